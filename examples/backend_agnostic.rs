//! Code written against `&dyn Backend`, run unchanged on the channel backend
//! and on a second, tiny backend this example registers itself.
//!
//! Run with `cargo run --example backend_agnostic`.

use std::any::Any;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use chanio::{Backend, Config, Features, ReadStream, WriteStream};

/// The code under test: it only knows `&dyn Backend`.
fn word_count(backend: &dyn Backend, text: &str) -> io::Result<usize> {
    let mut w = backend.new_writer("doc")?;
    w.write_all(text.as_bytes())?;
    w.close()?;
    let mut r = backend.new_reader("doc")?;
    let mut read = String::new();
    r.read_to_string(&mut read)?;
    r.close()?;
    backend.delete("doc")?;
    Ok(read.split_whitespace().count())
}

/// A tiny second backend: whole files in a map, visible once the writer
/// closes. Paths and files only; it supports nothing else.
#[derive(Default)]
struct MemoryFiles {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

struct FileWriter {
    path: String,
    buffer: Vec<u8>,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WriteStream for FileWriter {
    fn close(&mut self) -> chanio::Result<()> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.insert(self.path.clone(), std::mem::take(&mut self.buffer));
        Ok(())
    }
}

struct FileReader(io::Cursor<Vec<u8>>);

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl ReadStream for FileReader {
    fn close(&mut self) -> chanio::Result<()> {
        Ok(())
    }
}

impl MemoryFiles {
    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backend for MemoryFiles {
    fn new_writer(&self, path: &str) -> chanio::Result<Box<dyn WriteStream>> {
        Ok(Box::new(FileWriter {
            path: path.to_owned(),
            buffer: Vec::new(),
            files: Arc::clone(&self.files),
        }))
    }
    fn new_reader(&self, path: &str) -> chanio::Result<Box<dyn ReadStream>> {
        let data = self.files().get(path).cloned().unwrap_or_default();
        Ok(Box::new(FileReader(io::Cursor::new(data))))
    }
    fn exists(&self, path: &str) -> chanio::Result<bool> {
        Ok(self.files().contains_key(path))
    }
    fn delete(&self, path: &str) -> chanio::Result<()> {
        self.files().remove(path);
        Ok(())
    }
    fn list(&self, prefix: &str) -> chanio::Result<Vec<String>> {
        Ok(self
            .files()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
    fn close(&self) -> chanio::Result<()> {
        self.files().clear();
        Ok(())
    }
    fn features(&self) -> Features {
        Features::none().with(chanio::Feature::ReadWrite)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn memory_factory(config: &Config) -> chanio::Result<Box<dyn Backend>> {
    config.check_keys(&[])?; // it takes no settings, and says so
    Ok(Box::new(MemoryFiles::default()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    chanio::register("memory-files", memory_factory)?;
    println!("registered backends: {:?}", chanio::backends());

    let text = "the same code runs on every backend";
    for name in chanio::backends() {
        if name == "redis" {
            // Needs a server's url: see the `across_processes` example.
            continue;
        }
        let backend = chanio::open(&name, Config::new().iter())?;
        let words = word_count(backend.as_ref(), text)?;
        println!(
            "{name:>12}: {words} words; features {:?}",
            backend.features()
        );
        assert_eq!(words, 7);
        backend.close()?;
    }

    let err = chanio::open("memory-files", [("size", "10")])
        .err()
        .ok_or("expected an error")?;
    println!("a config the backend does not know is refused: {err}");
    Ok(())
}
