//! Hostile targets: the `conformance` binary must end by itself, exit 1 or 3, and stay under
//! 200 MB of resident memory against a target that answers with a 300 MB document, an endless
//! body, an endless event stream, garbage, resets, silence or headers sent a byte at a time.
//! Each target is a raw TCP server that lists one model (so checks run) and then misbehaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;

use binary::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// A 300 MB JSON document, with its Content-Length.
    HugeDeclared,
    /// A JSON array that never ends, chunked.
    EndlessBody,
    /// `data:` events that never end.
    EndlessEvents,
    /// Bytes that are not HTTP.
    Garbage,
    /// The connection closed without an answer.
    Reset,
    /// Nothing, ever (the model list too).
    Hang,
    /// The status line and headers one byte every 300 ms (the model list too).
    SlowHeaders,
    /// WebSocket upgrades accepted, then small text messages that never end.
    EndlessSocket,
    /// WebSocket upgrades accepted, then one text frame that declares 300 MB.
    HugeFrame,
}

const MODELS: &str = r#"{"object":"list","data":[{"id":"hostile-chat","object":"model","created":0,"owned_by":"x"},{"id":"hostile-embed","object":"model","created":0,"owned_by":"x"}]}"#;

fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn serve(mut stream: TcpStream, mode: Mode) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let head = read_head(&mut stream);
    // Drain a little of the body so the client is not reset while still sending.
    let mut sink = [0u8; 65536];
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let _ = stream.read(&mut sink);
    let lists_models = head.starts_with("GET /v1/models ");
    match mode {
        Mode::Hang => std::thread::sleep(Duration::from_secs(120)),
        Mode::SlowHeaders => {
            for b in b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" {
                if stream.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        _ if lists_models => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{MODELS}",
                MODELS.len()
            );
        }
        Mode::HugeDeclared => {
            let total: usize = 300 * 1024 * 1024;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {total}\r\n\r\n["
            );
            let block = "0,".repeat(32 * 1024);
            let mut sent = 1;
            while sent + block.len() < total {
                if stream.write_all(block.as_bytes()).is_err() {
                    return;
                }
                sent += block.len();
            }
        }
        Mode::EndlessBody | Mode::EndlessEvents => {
            let (media, block) = match mode {
                Mode::EndlessBody => ("application/json", "0,".repeat(32 * 1024)),
                _ => (
                    "text/event-stream",
                    "data: {\"type\":\"response.output_text.delta\",\"delta\":\"x\"}\n\n"
                        .repeat(1024),
                ),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: {media}\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n"
            );
            loop {
                if write!(stream, "{:x}\r\n{block}\r\n", block.len()).is_err() {
                    return;
                }
            }
        }
        Mode::EndlessSocket | Mode::HugeFrame => {
            let key = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Sec-WebSocket-Key: ")
                        .or_else(|| l.strip_prefix("sec-websocket-key: "))
                })
                .map(str::trim);
            let Some(key) = key else {
                let body = r#"{"error":{"message":"no","type":"invalid_request_error","param":null,"code":null}}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                return;
            };
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let _ = write!(
                stream,
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
            );
            if let Mode::HugeFrame = mode {
                // FIN + text, 64-bit length: 300 MB, then bytes until the client hangs up.
                let mut frame = vec![0x81, 127];
                frame.extend_from_slice(&(300u64 * 1024 * 1024).to_be_bytes());
                let _ = stream.write_all(&frame);
                let block = [b'x'; 65536];
                while stream.write_all(&block).is_ok() {}
                return;
            }
            let text = br#"{"type":"response.output_text.delta","sequence_number":1,"delta":"x"}"#;
            let mut frame = vec![0x81, text.len() as u8];
            frame.extend_from_slice(text);
            let block = frame.repeat(512);
            while stream.write_all(&block).is_ok() {}
        }
        Mode::Garbage => {
            let _ = stream.write_all(b"\x00\xffSSH-2.0-nope\r\n\x1b[2J\xfe\xfe\r\n\r\n");
        }
        Mode::Reset => {}
    }
}

fn hostile(mode: Mode) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream, mode));
        }
    });
    format!("http://{addr}")
}

/// The peak resident set of a running process, in kB (VmHWM never decreases).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs the binary against `mode` and returns (exit code, seconds, peak RSS in MB, output).
fn run(mode: Mode) -> (Option<i32>, f64, u64, String) {
    let url = hostile(mode);
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out_file = tmp.path().join("out.txt");
    let mut child = command()
        .args([
            "run",
            "--target",
            &url,
            "--api-key",
            "k",
            "--timeout",
            "3",
            "--no-reports",
            "--seed",
            "1",
            "--budget",
            "2",
        ])
        .env_remove("OPENAI_BASE_URL")
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let code = loop {
        if let Some(kb) = peak_rss_kb(pid) {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        // Only a guard against a hung test; the harness must stop long before.
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("{mode:?}: the harness did not end within 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::fs::read_to_string(&out_file).unwrap_or_default();
    (code, started.elapsed().as_secs_f64(), peak / 1024, output)
}

fn bounded(mode: Mode, codes: &[i32]) -> String {
    let (code, seconds, mb, output) = run(mode);
    eprintln!("{mode:?}: exit {code:?} in {seconds:.1}s, peak RSS {mb} MB");
    assert!(
        code.is_some_and(|c| codes.contains(&c)),
        "{mode:?}: exit {code:?}, wanted one of {codes:?}\n{output}"
    );
    assert!(mb < 200, "{mode:?}: peak RSS {mb} MB\n{output}");
    output
}

#[test]
fn a_300_mb_document_is_refused_at_the_cap() {
    let out = bounded(Mode::HugeDeclared, &[1]);
    assert!(out.contains("over the 33554432-byte cap"), "{out}");
}

#[test]
fn an_endless_body_is_cut_at_the_cap() {
    let out = bounded(Mode::EndlessBody, &[1]);
    assert!(out.contains("longer than the 33554432-byte cap"), "{out}");
}

#[test]
fn an_endless_event_stream_is_cut_at_a_cap() {
    let out = bounded(Mode::EndlessEvents, &[1]);
    assert!(out.contains("cap"), "{out}");
}

#[test]
fn garbage_resets_silence_and_slow_headers_end_the_run() {
    bounded(Mode::Garbage, &[1, 3]);
    bounded(Mode::Reset, &[1, 3]);
    bounded(Mode::Hang, &[3]);
    bounded(Mode::SlowHeaders, &[1, 3]);
}

#[test]
fn an_endless_or_huge_websocket_message_stream_is_cut_at_a_cap() {
    let out = bounded(Mode::EndlessSocket, &[1]);
    assert!(out.contains("over 10000 messages"), "{out}");
    let out = bounded(Mode::HugeFrame, &[1]);
    assert!(out.contains("over the cap"), "{out}");
}
