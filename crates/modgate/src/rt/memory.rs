//! Handing freed memory back to the system. glibc's allocator keeps what a thread freed in
//! that thread's arena; a zip fill allocates megabytes for its check on a blocking thread, so
//! without this, each large fill would leave its peak behind as resident memory (and more so
//! as fills land on new threads). After a zip fill ends, the free memory is trimmed.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Zip fills running now; the trim waits for the last of a burst.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Counts a zip fill for as long as it lives; the last one to end trims.
pub struct FillMemory(());

impl FillMemory {
    pub fn start() -> Self {
        RUNNING.fetch_add(1, Ordering::SeqCst);
        FillMemory(())
    }
}

impl Drop for FillMemory {
    fn drop(&mut self) {
        if RUNNING.fetch_sub(1, Ordering::SeqCst) == 1 {
            release_free_memory();
        }
    }
}

/// Returns the allocator's free memory to the system (glibc: `malloc_trim`); elsewhere the
/// allocator does it on its own.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
