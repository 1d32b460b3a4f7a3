//! A directory in GOPROXY layout (`file://` in a GOPROXY list): the air-gapped mirror.

use super::{Body, FetchError, Source};
use crate::request::ModuleRequest;
use std::path::PathBuf;

pub struct FileDir {
    dir: PathBuf,
}

impl FileDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait::async_trait]
impl Source for FileDir {
    async fn fetch(&self, req: &ModuleRequest) -> Result<Body, FetchError> {
        let path = self.dir.join(req.rel());
        let shown = self.dir.display();
        match tokio::fs::File::open(&path).await {
            Ok(f) => {
                let is_file = f.metadata().await.map(|m| m.is_file()).unwrap_or(false);
                if !is_file {
                    return Err(FetchError::not_found("not found"));
                }
                Ok(Body::from_file(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(FetchError::not_found("not found")),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Err(FetchError::Failed(format!("file://{shown}: permission denied")))
            }
            Err(e) => Err(FetchError::Failed(format!("file://{shown}: {e}"))),
        }
    }
}
