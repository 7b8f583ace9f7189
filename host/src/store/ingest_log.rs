//! The ingest log (SQLite mode): segment files under `<data dir>/ingest-log/` that hold every
//! acknowledged event until the database has it. One record per group commit, so a group is
//! applied whole or not at all; a record is `[length u32][crc32 u32][body]`, and a record
//! cut short by a crash (or whose checksum fails) ends its segment's readable part — it was
//! never acknowledged, because its group is answered only after `fdatasync`.
//!
//! Segments are numbered in the order they are appended to, and only the newest is ever
//! appended to, so every segment before it is deleted once the database has applied the
//! groups up to the newest one's first. The next segment is made ahead ([`Spares`]).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::events::NewEvent;
use super::files;
use crate::crash;
use crate::model::event::EventStatus;
use crate::model::ids::{EventId, WebhookId};

/// The log's directory inside the data dir.
pub const LOG_DIR: &str = "ingest-log";

/// A segment is closed and the next one taken past this size. Each is zero-filled when made
/// (see [`make_segment`]), so twice this (the one in use and the one made ahead) is the
/// free space the log needs. 16 MiB: one fills in ~0.8 s of the fastest ingest measured
/// here, long after the helper made the next.
pub const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// Largest record read back; a length above it is damage, not a record (a group holds at
/// most 512 requests of at most 1 MiB).
const MAX_RECORD: usize = 600 * 1024 * 1024;

/// Header bytes before a record's body: its length and its checksum.
const HEADER: usize = 8;

/// One group commit as logged: its sequence number and the event rows it stored.
#[derive(Debug, Clone)]
pub struct LoggedGroup {
    /// Increases by one per group, across segments and restarts.
    pub seq: u64,
    /// The group's events, in the order they were received.
    pub events: Vec<NewEvent>,
}

/// How many of `groups`, from the first, go into one database transaction: at least one,
/// and no more than `max_events` events or `max_bytes` of payload.
pub fn batch_len<'a>(groups: impl IntoIterator<Item = &'a LoggedGroup>, max_events: usize, max_bytes: usize) -> usize {
    let (mut n, mut events, mut bytes) = (0, 0, 0);
    for group in groups {
        let size: usize = group.events.iter().map(|e| e.payload.len()).sum();
        if n > 0 && (events + group.events.len() > max_events || bytes + size > max_bytes) {
            break;
        }
        (n, events, bytes) = (n + 1, events + group.events.len(), bytes + size);
    }
    n
}

/// Why the log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// No space left for the log.
    #[error("ingest log {path}: the disk is full")]
    DiskFull {
        /// The file.
        path: PathBuf,
    },
    /// A file or directory operation failed.
    #[error("ingest log {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| match source.kind() {
        std::io::ErrorKind::StorageFull => LogError::DiskFull { path: path.to_path_buf() },
        _ => LogError::Io { path: path.to_path_buf(), source },
    }
}

/// The log's directory, made private if new.
pub fn open_dir(data_dir: &Path) -> Result<PathBuf, LogError> {
    let dir = data_dir.join(LOG_DIR);
    files::create_private_dir(&dir).map_err(io(&dir))?;
    Ok(dir)
}

/// The segments in `dir`, oldest first: (number, path).
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            found.push((first, path));
        }
    }
    found.sort();
    Ok(found)
}

/// What reading a segment found.
#[derive(Debug)]
pub struct SegmentRead {
    /// The whole records, in order.
    pub groups: Vec<LoggedGroup>,
    /// Bytes after the last whole record: a record cut short by a crash, or damage.
    pub ignored_bytes: u64,
}

/// Read a segment's whole records; reading stops at the first record that is cut short or
/// fails its checksum, and what follows is counted as ignored.
pub fn read_segment(path: &Path) -> Result<SegmentRead, LogError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(io(path))?;
    Ok(decode_all(&bytes))
}

fn decode_all(bytes: &[u8]) -> SegmentRead {
    let mut groups = Vec::new();
    let mut at = 0;
    while let Some((group, next)) = decode_record(bytes, at) {
        groups.push(group);
        at = next;
    }
    // A segment is zero-filled ahead of its records: zeros after the last record are its
    // unused rest, anything else is a torn or damaged record.
    let rest = &bytes[at..];
    let ignored_bytes = if rest.iter().all(|b| *b == 0) { 0 } else { rest.len() as u64 };
    SegmentRead { groups, ignored_bytes }
}

/// The record at `at` and where the next begins, if it is whole and intact.
fn decode_record(bytes: &[u8], at: usize) -> Option<(LoggedGroup, usize)> {
    let header = bytes.get(at..at.checked_add(HEADER)?)?;
    let length = usize::try_from(u32::from_le_bytes(header[..4].try_into().ok()?)).ok()?;
    let checksum = u32::from_le_bytes(header[4..].try_into().ok()?);
    if length > MAX_RECORD {
        return None;
    }
    let start = at + HEADER;
    let body = bytes.get(start..start.checked_add(length)?)?;
    if crc32fast::hash(body) != checksum {
        return None;
    }
    Some((decode_group(body)?, start + length))
}

/// Where a segment begins: its number (its file's name) and the first group it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentStart {
    /// Segments are numbered in the order they are appended to; the file is `{number}.log`.
    pub number: u64,
    /// The first group appended to it.
    pub first_seq: u64,
}

/// A segment file made and zero-filled, not yet appended to.
pub struct Segment {
    file: File,
    path: PathBuf,
    number: u64,
}

impl Segment {
    /// Its number (its file's name).
    pub fn number(&self) -> u64 {
        self.number
    }
}

/// Make segment `number`: zero-filled, synced, its directory entry durable. A segment half
/// made (the disk filled) is removed, so a later try makes it anew.
pub fn make_segment(dir: &Path, number: u64) -> Result<Segment, LogError> {
    let path = dir.join(format!("{number:020}.log"));
    let mut file = files::private_file_options().create_new(true).write(true).open(&path).map_err(io(&path))?;
    // Zero-filled and synced once: a group's write then lands in blocks the file already
    // has, so its `fdatasync` flushes data only, without a journal commit that would also
    // wait for the database's dirty pages (ext4's ordered mode; measured: ack p99 55 ms →
    // 8.6 ms at 64 connections). Written a page at a time: filled with 1 MiB writes, the
    // page cache keeps 1 MiB folios, and each `fdatasync` of a 20 KB group wrote back a
    // whole 1 MiB (measured on this kernel, 6.18).
    let zeros = [0u8; 4096];
    let mut filled = 0;
    let mut fill = || {
        while filled < SEGMENT_BYTES {
            file.write_all(&zeros)?;
            filled += zeros.len() as u64;
        }
        file.sync_all()?;
        File::open(dir)?.sync_all()
    };
    if let Err(e) = fill() {
        let _ = std::fs::remove_file(&path);
        return Err(io(&path)(e));
    }
    Ok(Segment { file, path, number })
}

/// The segment after the newest, made ahead by a helper thread ([`Spares::make_ahead`]) so
/// a roll takes a ready file: filling and syncing 16 MiB while senders wait took ack p99 at
/// 64 connections to 546 ms when segments were 4 MiB.
pub struct Spares {
    slot: Mutex<Slot>,
    changed: Condvar,
}

struct Slot {
    ready: Option<Segment>,
    /// The helper's last failure, until a roll reports it to the senders.
    failed: Option<LogError>,
    /// The helper is making a segment now.
    making: bool,
    next: u64,
    closed: bool,
}

/// How long a roll waits for the helper to finish the next segment (it is normally ready
/// long before: a segment takes ~0.8 s of the fastest ingest to fill).
const SPARE_WAIT: Duration = Duration::from_secs(10);

/// How long the helper waits to try again after failing to make a segment (the disk full),
/// unless a roll takes the failure first.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

impl Spares {
    /// The next segment to make is `next`.
    pub fn new(next: u64) -> Arc<Spares> {
        let slot = Slot { ready: None, failed: None, making: false, next, closed: false };
        Arc::new(Spares { slot: Mutex::new(slot), changed: Condvar::new() })
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The helper thread's loop: keep one segment ready in `dir`; returns once closed.
    pub fn make_ahead(&self, dir: &Path) {
        let mut slot = self.lock();
        // Failures in a row: the first is a warning, its repeats (every second while the
        // disk stays full) are debug lines, and the end of the run is reported.
        let mut failing = 0u64;
        loop {
            while !slot.closed && slot.ready.is_some() {
                slot = self.changed.wait(slot).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if slot.closed {
                return;
            }
            let number = slot.next;
            slot.making = true;
            drop(slot);
            let made = make_segment(dir, number);
            slot = self.lock();
            slot.making = false;
            match made {
                Ok(segment) => {
                    (slot.ready, slot.failed, slot.next) = (Some(segment), None, number + 1);
                    self.changed.notify_all();
                    if failing > 0 {
                        tracing::info!(failures = failing, "made the next ingest log segment again");
                        failing = 0;
                    }
                }
                Err(e) => {
                    if failing == 0 {
                        tracing::warn!(error = %e, "could not make the next ingest log segment; trying again");
                    } else {
                        tracing::debug!(error = %e, failures = failing + 1, "still cannot make the next ingest log segment");
                    }
                    failing += 1;
                    slot.failed = Some(e);
                    self.changed.notify_all();
                    slot = self.changed.wait_timeout(slot, RETRY_PAUSE).unwrap_or_else(|p| p.into_inner()).0;
                }
            }
        }
    }

    /// The ready segment; waits for the helper if it is still making it. A failure from
    /// before this call is old news (the disk may have room now): the helper is asked to
    /// try again at once, and only that try's failure is returned.
    fn take(&self) -> Result<Segment, LogError> {
        let deadline = Instant::now() + SPARE_WAIT;
        let mut slot = self.lock();
        if slot.ready.is_none() && !slot.making {
            slot.failed = None;
            self.changed.notify_all();
        }
        loop {
            if let Some(segment) = slot.ready.take() {
                self.changed.notify_all();
                return Ok(segment);
            }
            if let Some(failed) = slot.failed.take() {
                return Err(failed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if slot.closed || left.is_zero() {
                let why = std::io::Error::new(std::io::ErrorKind::TimedOut, "no new segment was ready");
                return Err(LogError::Io { path: PathBuf::from(format!("segment {}", slot.next)), source: why });
            }
            slot = self.changed.wait_timeout(slot, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// The helper stops (the appender is gone).
    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// The newest segment, open for appending groups; the next is made ahead by [`Spares`].
pub struct Appender {
    current: Segment,
    start: SegmentStart,
    len: u64,
    spares: Arc<Spares>,
    /// Scratch buffer a group is encoded into, kept between groups.
    buffer: Vec<u8>,
}

impl Appender {
    /// Append to `first` (made by [`make_segment`]), from group `first_seq` on; later
    /// segments come from `spares`, whose helper stops when this is dropped.
    pub fn new(first: Segment, first_seq: u64, spares: Arc<Spares>) -> Appender {
        let start = SegmentStart { number: first.number, first_seq };
        Appender { current: first, start, len: 0, spares, buffer: Vec::new() }
    }

    /// Where the segment being appended to begins.
    pub fn start(&self) -> SegmentStart {
        self.start
    }

    /// Append `group` as one record and `fdatasync` it; on `Ok` it survives a crash. A
    /// group whose write or sync failed is cut off again and the segment closed, so it is
    /// never read back (its requests were refused) and later groups never follow a torn one.
    pub fn append(&mut self, group: &LoggedGroup) -> Result<(), LogError> {
        self.buffer.clear();
        encode_record(group, &mut self.buffer);
        // A record goes where the segment has its zeros: written past them it would need
        // new blocks (on a full disk, none) and its sync a journal commit. One larger than
        // a whole segment goes alone at the start of one.
        if self.len > 0 && self.len + self.buffer.len() as u64 > SEGMENT_BYTES {
            self.current = self.spares.take()?;
            self.start = SegmentStart { number: self.current.number, first_seq: group.seq };
            self.len = 0;
        }
        let file = &self.current.file;
        if crash::due(crash::Point::LogMidWrite) {
            let half = &self.buffer[..self.buffer.len() / 2];
            let _ = std::os::unix::fs::FileExt::write_all_at(file, half, self.len).and_then(|()| file.sync_data());
            crash::abort(crash::Point::LogMidWrite);
        }
        let written =
            std::os::unix::fs::FileExt::write_all_at(file, &self.buffer, self.len).and_then(|()| file.sync_data());
        match written {
            Ok(()) => {
                crash::at(crash::Point::LogSynced);
                self.len += self.buffer.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = file.set_len(self.len).and_then(|()| file.sync_data());
                // The next group starts a fresh segment, whatever the cut-off managed.
                self.len = SEGMENT_BYTES;
                Err(io(&self.current.path)(e))
            }
        }
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        self.spares.close();
    }
}

/// Delete the segments numbered below `newest` (the one being appended to); returns how
/// many went. Call only once the database has every group they hold, durably.
pub fn reclaim(dir: &Path, newest: u64) -> Result<usize, LogError> {
    let mut deleted = 0;
    for (number, path) in segments(dir)? {
        if number >= newest {
            break;
        }
        std::fs::remove_file(&path).map_err(io(&path))?;
        deleted += 1;
        crash::at(crash::Point::ReclaimMidDelete);
    }
    if deleted > 0 {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    }
    Ok(deleted)
}

/// Delete every segment (after a start applied them all and made that durable).
pub fn remove_all(dir: &Path) -> Result<(), LogError> {
    for (_, path) in segments(dir)? {
        std::fs::remove_file(&path).map_err(io(&path))?;
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

fn encode_record(group: &LoggedGroup, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    out.extend_from_slice(&group.seq.to_le_bytes());
    put_u32(out, group.events.len());
    for event in &group.events {
        put_bytes(out, event.id.as_str().as_bytes());
        put_bytes(out, event.webhook_id.as_str().as_bytes());
        out.extend_from_slice(&event.received_at_ms.to_le_bytes());
        put_bytes(out, event.status.as_str().as_bytes());
        put_opt(out, event.reason.as_deref());
        put_bytes(out, &event.payload);
        put_opt(out, event.delivery_id.as_deref());
        put_opt(out, event.request_id.as_deref());
    }
    let body = &out[start + HEADER..];
    let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let checksum = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&checksum.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Absent is length `u32::MAX`, which no field reaches (a record is far smaller).
fn put_opt(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => put_bytes(out, text.as_bytes()),
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// Reads a record's body field by field; `None` on anything short or malformed (the
/// checksum passed, so that would be a bug or a different version, never a panic).
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }

    fn opt(&mut self) -> Option<Option<String>> {
        let n = self.u32()?;
        if n == u32::MAX {
            return Some(None);
        }
        let bytes = self.take(usize::try_from(n).ok()?)?;
        Some(Some(String::from_utf8(bytes.to_vec()).ok()?))
    }
}

fn decode_group(body: &[u8]) -> Option<LoggedGroup> {
    let mut r = Reader { bytes: body };
    let seq = r.u64()?;
    let count = r.u32()?;
    let mut events = Vec::new();
    for _ in 0..count {
        events.push(NewEvent {
            id: EventId::from_text(r.text()?),
            webhook_id: WebhookId::from_text(r.text()?),
            received_at_ms: i64::from_le_bytes(r.take(8)?.try_into().ok()?),
            status: EventStatus::parse(&r.text()?).ok()?,
            reason: r.opt()?,
            payload: r.bytes()?.to_vec(),
            delivery_id: r.opt()?,
            request_id: r.opt()?,
        });
    }
    r.bytes.is_empty().then_some(LoggedGroup { seq, events })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(seq: u64, n: usize) -> LoggedGroup {
        let events = (0..n)
            .map(|i| NewEvent {
                id: EventId::from_text(format!("evt_{seq}_{i}")),
                webhook_id: WebhookId::from_text("wh_1"),
                received_at_ms: 1_700_000_000_000 + i as i64,
                status: if i == 0 { EventStatus::Duplicate } else { EventStatus::Accepted },
                reason: (i == 0).then(|| "duplicate of evt_0".to_string()),
                payload: format!("{{\"n\":{i},\"text\":\"é\"}}").into_bytes(),
                delivery_id: (i % 2 == 0).then(|| format!("d{i}")),
                request_id: Some("req".into()),
            })
            .collect();
        LoggedGroup { seq, events }
    }

    fn encoded(groups: &[LoggedGroup]) -> Vec<u8> {
        let mut out = Vec::new();
        for g in groups {
            encode_record(g, &mut out);
        }
        out
    }

    #[test]
    fn groups_read_back_as_written() {
        let written = [group(1, 3), group(2, 1), group(3, 0)];
        let read = decode_all(&encoded(&written));
        assert_eq!(read.ignored_bytes, 0);
        assert_eq!(read.groups.len(), 3);
        for (a, b) in read.groups.iter().zip(&written) {
            assert_eq!(a.seq, b.seq);
            assert_eq!(format!("{:?}", a.events), format!("{:?}", b.events));
        }
    }

    #[test]
    fn a_torn_last_record_is_ignored_at_every_cut_and_never_read_in_part() {
        let whole = encoded(&[group(1, 2)]);
        let bytes = encoded(&[group(1, 2), group(2, 4)]);
        for cut in whole.len()..bytes.len() {
            let read = decode_all(&bytes[..cut]);
            assert_eq!(read.groups.len(), 1, "cut at {cut}");
            assert_eq!(read.groups[0].seq, 1);
            assert_eq!(read.ignored_bytes as usize, cut - whole.len());
        }
    }

    #[test]
    fn a_flipped_bit_ends_the_readable_part_and_garbage_never_panics() {
        let bytes = encoded(&[group(1, 2), group(2, 2), group(3, 2)]);
        let second = encoded(&[group(1, 2)]).len();
        for (at, whole) in [(second + 3, 1), (second + 9, 1), (second + 40, 1), (bytes.len() - 1, 2)] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            let read = decode_all(&damaged);
            let seqs: Vec<u64> = read.groups.iter().map(|g| g.seq).collect();
            assert_eq!(seqs, (1..=whole).collect::<Vec<_>>(), "flip at {at}");
        }
        // Random bytes, including a header claiming a huge record.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in [0usize, 3, 8, 9, 64, 4096] {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            assert!(decode_all(&junk).groups.is_empty());
        }
        assert!(decode_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).groups.is_empty());
    }

    /// An appender on segment 0 of `dir`, with its helper making the next ones.
    fn appender(dir: &Path, spare_dir: &Path) -> (Appender, std::thread::JoinHandle<()>) {
        let spares = Spares::new(1);
        let helper = {
            let (spares, dir) = (spares.clone(), spare_dir.to_path_buf());
            std::thread::spawn(move || spares.make_ahead(&dir))
        };
        (Appender::new(make_segment(dir, 0).unwrap(), 1, spares), helper)
    }

    #[test]
    fn appended_groups_roll_into_segments_made_ahead_that_reclaim_deletes_once_applied() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, helper) = appender(dir.path(), dir.path());
        log.append(&group(1, 2)).unwrap();
        // Force the roll a full segment would cause.
        log.len = SEGMENT_BYTES;
        log.append(&group(2, 2)).unwrap();
        log.append(&group(3, 2)).unwrap();
        assert_eq!(log.start(), SegmentStart { number: 1, first_seq: 2 });
        log.len = SEGMENT_BYTES;
        log.append(&group(4, 1)).unwrap();
        assert_eq!(log.start(), SegmentStart { number: 2, first_seq: 4 });
        let numbers = || segments(dir.path()).unwrap().iter().map(|(n, _)| *n).collect::<Vec<u64>>();
        let read = |n: usize| read_segment(&segments(dir.path()).unwrap()[n].1).unwrap();
        assert_eq!(read(1).groups.iter().map(|g| g.seq).collect::<Vec<_>>(), vec![2, 3]);
        // Once the newest holds group 4, everything before it may go; never the newest.
        assert_eq!(reclaim(dir.path(), 2).unwrap(), 2);
        assert_eq!(read(0).groups.iter().map(|g| g.seq).collect::<Vec<_>>(), vec![4]);
        drop(log);
        helper.join().unwrap();
        // The one made ahead (if the helper got to it before the appender went) is empty.
        let left = numbers();
        assert!(left == [2] || left == [2, 3], "{left:?}");
        if left.len() == 2 {
            let spare = read(1);
            assert!(spare.groups.is_empty() && spare.ignored_bytes == 0);
        }
        remove_all(dir.path()).unwrap();
        assert!(segments(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_segment_that_could_not_be_made_refuses_one_group_and_the_next_try_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("not-yet");
        let (mut log, helper) = appender(dir.path(), &gone);
        log.len = SEGMENT_BYTES;
        assert!(matches!(log.append(&group(1, 1)), Err(LogError::Io { .. })));
        // Room again (here: the directory exists): the very next group gets a segment.
        std::fs::create_dir(&gone).unwrap();
        log.append(&group(2, 1)).unwrap();
        assert_eq!(log.start(), SegmentStart { number: 1, first_seq: 2 });
        drop(log);
        helper.join().unwrap();
        let read = read_segment(&segments(&gone).unwrap()[0].1).unwrap();
        assert_eq!(read.groups.iter().map(|g| g.seq).collect::<Vec<_>>(), vec![2]);
    }
}
