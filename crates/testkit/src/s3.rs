//! A real S3-compatible server for the tests: the `s3s-fs` engine (crates.io), which keeps each
//! bucket as a directory, served over HTTP on a loopback port by its own `s3s` service, with
//! SigV4 authentication on. One thing is added: conditional writes (`If-None-Match: *` on a
//! `PUT` or a multipart completion, and copies) are serialized, so that two racing writers get
//! what S3 itself gives them — one wins, the other is refused — where `s3s-fs` alone checks and
//! then writes. The server can be stopped and started again on the same port and data.

use anyhow::{bail, Result};
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "testkit-access";
pub const SECRET_KEY: &str = "testkit-secret-key";

pub struct S3Server {
    root: PathBuf,
    pub port: u16,
    running: Option<(std::thread::JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
}

/// s3s-fs with its object-creating writes one at a time.
struct Atomic {
    fs: s3s_fs::FileSystem,
    writes: tokio::sync::Mutex<()>,
}

#[async_trait::async_trait]
impl S3 for Atomic {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let _one = self.writes.lock().await;
        self.fs.put_object(req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let _one = self.writes.lock().await;
        self.fs.copy_object(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let _one = self.writes.lock().await;
        self.fs.complete_multipart_upload(req).await
    }
}

impl S3Server {
    /// A server over `root` with one empty bucket, `bucket`.
    pub fn start(root: &Path, bucket: &str) -> Result<Self> {
        std::fs::create_dir_all(root.join(bucket))?;
        let port = crate::nginx::free_port()?;
        let mut me = Self { root: root.to_path_buf(), port, running: None };
        me.resume()?;
        Ok(me)
    }

    /// The file s3s-fs keeps `key` of `bucket` in.
    pub fn object_file(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `[storage]` section for `bucket` on this server.
    pub fn storage_toml(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "[storage]\nkind = \"s3\"\nbucket = \"{bucket}\"\nprefix = \"{prefix}\"\nendpoint = \"{}\"\n\
             access_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\ntimeout = \"5s\"\n",
            self.url()
        )
    }

    /// Stops the server: the listener closes and every connection is dropped (its data stays).
    pub fn stop(&mut self) {
        if let Some((thread, stop)) = self.running.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }

    /// Starts the server (again) on its port and data; returns once it accepts connections.
    pub fn resume(&mut self) -> Result<()> {
        self.stop();
        let fs = s3s_fs::FileSystem::new(&self.root).map_err(|e| anyhow::anyhow!("s3s-fs: {e:?}"))?;
        let mut b = s3s::service::S3ServiceBuilder::new(Atomic { fs, writes: Default::default() });
        b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = b.build();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else { return };
                let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                loop {
                    let socket = tokio::select! {
                        r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                        _ = &mut stop_rx => break,
                    };
                    // As servers built for traffic do: a body written after its head is not held
                    // back waiting for the client's delayed ACK.
                    let _ = socket.set_nodelay(true);
                    let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                    tokio::spawn(conn);
                }
            });
            // Dropping the runtime drops every connection still open.
            rt.shutdown_background();
        });
        self.running = Some((thread, stop_tx));
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                bail!("the S3 server did not listen on {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Every file under the bucket's directory, relative to it: what the bucket holds, complete
    /// or not (a test lists it to see that nothing partial is ever under a final key).
    pub fn files(&self, bucket: &str) -> Vec<String> {
        let base = self.root.join(bucket);
        let mut out = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(&base) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
