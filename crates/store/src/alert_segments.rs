//! SQLite keeps alerts in segments (schema 11): each write of alerts is one
//! row of `alert_segments`, its alerts encoded one after the other in a
//! blob, under a new, increasing `seq`. A row per alert cost its binding,
//! its record, its B-tree insert and its index entry: most of SQLite's share
//! of the CPU per alert at batch 100. A segment is one insert whatever it
//! holds.
//!
//! An alert written again lives on in its newer segment; the older copy is
//! dead. [`Index`] knows, for every alert, the segment holding its latest
//! state and when it ends, and for every segment how many of its alerts are
//! still live: a write deletes the segments it leaves with none, and a
//! prune (or a write after which more alerts stored are dead than live,
//! see [`Index::needs_compaction`]) rewrites the live alerts of segments
//! left mostly dead into a new one. Read back, later segments win, so a segment whose write nines never
//! learned the outcome of (it may have committed) is read as what it is.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::alerting::AlertRow;
use crate::config_revision::timestamp_from_micros;

/// The first byte of every segment: its encoding's version. Version 1 is
/// the alerts as they are ([`encode_plain`]); version 2 (written since) is
/// version 1's bytes after the first, compressed as one LZ4 block with
/// their length before it. An alert's body is JSON whose names and most
/// values repeat from one alert to the next: a segment shrinks about
/// fourfold, and SQLite's cost of a write (its WAL, the checkpoint, the
/// sync) goes with the bytes, not with the alerts.
const PLAIN: u8 = 1;
const COMPRESSED: u8 = 2;

/// Encodes `rows` as a segment (version 2).
pub(crate) fn encode<'a>(rows: impl Iterator<Item = &'a AlertRow> + Clone) -> Vec<u8> {
    encode_with(rows, &mut Scratch::default())
}

/// Buffers a writer keeps from one segment to the next: a write's
/// uncompressed bytes are a few hundred kilobytes, and fresh ones cost a
/// page fault every 4 KiB.
#[derive(Default)]
pub(crate) struct Scratch {
    plain: Vec<u8>,
    packed: Vec<u8>,
}

/// [`encode`], in `scratch`'s buffers; the segment returned is a copy of
/// exactly its bytes.
pub(crate) fn encode_with<'a>(
    rows: impl Iterator<Item = &'a AlertRow> + Clone,
    scratch: &mut Scratch,
) -> Vec<u8> {
    let Scratch { plain, packed } = scratch;
    plain_into(rows, plain);
    let body = &plain[1..];
    // Zeroed once as it grows, not for each write: LZ4 writes into it.
    let need = lz4_flex::block::get_maximum_output_size(body.len());
    if packed.len() < need {
        packed.resize(need, 0);
    }
    let n = lz4_flex::block::compress_into(body, packed)
        .expect("the buffer has LZ4's maximum size for the input");
    let size = u32::try_from(body.len()).expect("a write holds far fewer alerts");
    let mut out = Vec::with_capacity(5 + n);
    out.push(COMPRESSED);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&packed[..n]);
    // A large write's buffers are not held on to for the small ones.
    for buf in [plain, packed] {
        if buf.capacity() > SCRATCH_KEPT {
            *buf = Vec::new();
        }
    }
    out
}

/// The most [`Scratch`] keeps between writes, per buffer (a write of some
/// 4,000 alerts).
const SCRATCH_KEPT: usize = 1 << 20;

/// Encodes `rows` as a segment of version 1 (only tests write it now).
/// Each row: fingerprint, start,
/// end and last update (8 bytes each, little-endian; times in
/// microseconds), then source, service and body (each a 4-byte length and
/// its UTF-8 bytes), after the version byte and a 4-byte count.
#[cfg(test)]
pub(crate) fn encode_plain<'a>(rows: impl Iterator<Item = &'a AlertRow> + Clone) -> Vec<u8> {
    let mut out = Vec::new();
    plain_into(rows, &mut out);
    out
}

/// [`encode_plain`] into `out`, emptied first.
fn plain_into<'a>(rows: impl Iterator<Item = &'a AlertRow> + Clone, out: &mut Vec<u8>) {
    let size: usize = rows
        .clone()
        .map(|r| 44 + r.source.len() + r.service.len() + r.body.len())
        .sum();
    out.clear();
    out.reserve(5 + size);
    out.push(PLAIN);
    let count = u32::try_from(rows.clone().count()).expect("a write holds far fewer alerts");
    out.extend_from_slice(&count.to_le_bytes());
    for r in rows {
        out.extend_from_slice(&r.fingerprint.to_le_bytes());
        for t in [r.starts_at, r.ends_at, r.updated_at] {
            out.extend_from_slice(&t.as_microsecond().to_le_bytes());
        }
        for text in [&*r.source, &*r.service, &*r.body] {
            let len = u32::try_from(text.len()).expect("an alert's text is far below 4 GiB");
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// The alerts of a segment, in the order written; an error names what in
/// the blob is not a segment.
pub(crate) fn decode(blob: &[u8]) -> Result<Vec<AlertRow>, String> {
    match blob.first() {
        Some(&PLAIN) => decode_rows(&blob[1..]),
        Some(&COMPRESSED) => {
            let packed = &blob[1..];
            let size = packed
                .get(..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or("its compressed length is cut short")?;
            // LZ4 expands a byte at most 255 times: a length beyond that
            // is damage, not a reason to allocate it.
            if size > packed.len().saturating_mul(255) {
                return Err(format!(
                    "{size} bytes cannot come out of {} compressed ones",
                    packed.len()
                ));
            }
            let plain = lz4_flex::block::decompress_size_prepended(packed)
                .map_err(|e| format!("it does not decompress: {e}"))?;
            if plain.len() != size {
                return Err(format!(
                    "it decompresses to {} bytes, not the {size} it declares",
                    plain.len()
                ));
            }
            decode_rows(&plain)
        }
        Some(&format) => Err(format!(
            "encoding version {format} is not one this nines reads ({PLAIN} or {COMPRESSED})"
        )),
        None => Err("it is empty (cut short)".to_owned()),
    }
}

/// The alerts of a segment's bytes after its version byte (a count, then
/// the rows, see [`encode_plain`]).
fn decode_rows(blob: &[u8]) -> Result<Vec<AlertRow>, String> {
    let mut r = Reader { blob, at: 0 };
    let count = r.u32()? as usize;
    // Each alert takes at least 44 bytes: a count beyond that is damage.
    if count > blob.len() / 44 {
        return Err(format!("{count} alerts do not fit in {} bytes", blob.len()));
    }
    let mut rows = Vec::with_capacity(count);
    // Alerts of one source share its name.
    let mut sources: Vec<Arc<str>> = Vec::new();
    for _ in 0..count {
        let fingerprint = r.u64()?;
        let starts_at = r.time("start")?;
        let ends_at = r.time("end")?;
        let updated_at = r.time("update")?;
        let source = r.text()?;
        let source = match sources.iter().find(|s| ***s == *source) {
            Some(s) => s.clone(),
            None => {
                let s: Arc<str> = source.into();
                sources.push(s.clone());
                s
            }
        };
        rows.push(AlertRow {
            fingerprint,
            source,
            service: r.text()?.into(),
            starts_at,
            ends_at,
            updated_at,
            body: r.text()?.into(),
        });
    }
    if r.at != blob.len() {
        return Err(format!("{} bytes after the last alert", blob.len() - r.at));
    }
    Ok(rows)
}

struct Reader<'a> {
    blob: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.blob.len());
        let Some(end) = end else {
            return Err(format!(
                "cut short at byte {} of {} (wanted {n} more)",
                self.at,
                self.blob.len()
            ));
        };
        let out = &self.blob[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn time(&mut self, what: &str) -> Result<jiff::Timestamp, String> {
        let micros = self.u64()? as i64;
        timestamp_from_micros(micros).map_err(|_| format!("an alert's {what} is out of range"))
    }

    fn text(&mut self) -> Result<&'a str, String> {
        let len = self.u32()? as usize;
        let at = self.at;
        std::str::from_utf8(self.take(len)?).map_err(|e| format!("text at byte {at}: {e}"))
    }
}

/// Where an alert's latest state is, and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    segment: i64,
    ends_at: i64,
}

/// A segment's alerts: all it holds, and those still latest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    rows: u32,
    live: u32,
}

/// What the store knows of its segments (see the module's text); changed
/// only once the write it describes has committed.
#[derive(Debug, Default)]
pub(crate) struct Index {
    by_fingerprint: HashMap<u64, Place, foldhash::fast::RandomState>,
    segments: BTreeMap<i64, Counts>,
    /// The `seq` the next segment gets: taken by a write whatever its
    /// outcome, so a segment whose commit is not known keeps its own.
    next: i64,
    /// Alerts stored that are no longer latest, in every segment.
    dead: u64,
}

/// Below this many dead alerts, a write never compacts (see
/// [`Index::needs_compaction`]).
const DEAD_AT_LEAST: u64 = 10_000;

/// A write of alerts, planned: the segment it inserts, and the segments it
/// leaves with no live alert (deleted in the same transaction).
#[derive(Debug)]
pub(crate) struct Plan {
    pub seq: i64,
    pub delete: Vec<i64>,
    /// The alerts written (the last of each fingerprint), and their ends.
    placed: Vec<(u64, i64)>,
}

impl Index {
    /// The index of segments as read back, oldest first.
    pub(crate) fn from_segments(segments: &[(i64, Vec<AlertRow>)]) -> Index {
        let mut index = Index::default();
        for (seq, rows) in segments {
            let placed: Vec<(u64, i64)> = rows
                .iter()
                .map(|r| (r.fingerprint, r.ends_at.as_microsecond()))
                .collect();
            index.next = index.next.max(*seq);
            index.apply(&Plan {
                seq: *seq,
                delete: Vec::new(),
                placed,
            });
        }
        index.next = index.next.max(0) + 1;
        index
    }

    /// Plans the write of `rows` (each fingerprint once) as a new segment.
    pub(crate) fn plan<'a>(&mut self, rows: impl Iterator<Item = &'a AlertRow>) -> Plan {
        let seq = self.next;
        self.next += 1;
        let placed: Vec<(u64, i64)> = rows
            .map(|r| (r.fingerprint, r.ends_at.as_microsecond()))
            .collect();
        // How many live alerts each older segment loses.
        let mut losing: BTreeMap<i64, u32> = BTreeMap::new();
        for (fp, _) in &placed {
            if let Some(p) = self.by_fingerprint.get(fp) {
                *losing.entry(p.segment).or_default() += 1;
            }
        }
        let delete = losing
            .into_iter()
            .filter(|(s, n)| self.segments.get(s).is_some_and(|c| c.live <= *n))
            .map(|(s, _)| s)
            .collect();
        Plan {
            seq,
            delete,
            placed,
        }
    }

    /// Records a committed write.
    pub(crate) fn apply(&mut self, plan: &Plan) {
        let mut counts = Counts::default();
        for &(fp, ends_at) in &plan.placed {
            let place = Place {
                segment: plan.seq,
                ends_at,
            };
            if let Some(old) = self.by_fingerprint.insert(fp, place) {
                self.kill(old.segment);
            }
            counts.rows += 1;
            counts.live += 1;
        }
        for s in &plan.delete {
            self.remove(*s);
        }
        if counts.rows > 0 {
            self.segments.insert(plan.seq, counts);
        }
    }

    /// Plans a prune of the alerts that ended before `before` (in
    /// microseconds): what it forgets, the segments it deletes (left with
    /// no live alert) and those it rewrites (left with under half their
    /// alerts live; their live alerts go to segment `seq`).
    pub(crate) fn plan_prune(&mut self, before: i64) -> Prune {
        let gone: Vec<u64> = self
            .by_fingerprint
            .iter()
            .filter(|(_, p)| p.ends_at < before)
            .map(|(fp, _)| *fp)
            .collect();
        let mut losing: BTreeMap<i64, u32> = BTreeMap::new();
        for fp in &gone {
            *losing.entry(self.by_fingerprint[fp].segment).or_default() += 1;
        }
        let mut delete = Vec::new();
        let mut rewrite = Vec::new();
        for (s, c) in &self.segments {
            let live = c.live.saturating_sub(losing.get(s).copied().unwrap_or(0));
            if live == 0 {
                delete.push(*s);
            } else if live * 2 < c.rows {
                rewrite.push(*s);
            }
        }
        let seq = self.next;
        self.next += 1;
        Prune {
            before,
            gone,
            delete,
            rewrite,
            seq,
        }
    }

    /// Whether `fingerprint`'s latest state is in `segment` (and it is not
    /// among those a prune forgets).
    pub(crate) fn is_live_in(&self, fingerprint: u64, segment: i64, prune: &Prune) -> bool {
        self.by_fingerprint
            .get(&fingerprint)
            .is_some_and(|p| p.segment == segment && p.ends_at >= prune.before)
    }

    /// Records a committed prune; `moved` are the alerts rewritten into
    /// `prune.seq`.
    pub(crate) fn apply_prune(&mut self, prune: &Prune, moved: &[(u64, i64)]) {
        for fp in &prune.gone {
            if let Some(p) = self.by_fingerprint.remove(fp) {
                self.kill(p.segment);
            }
        }
        for s in prune.delete.iter().chain(&prune.rewrite) {
            self.remove(*s);
        }
        self.apply(&Plan {
            seq: prune.seq,
            delete: Vec::new(),
            placed: moved.to_vec(),
        });
    }

    /// One alert of `segment` is no longer latest.
    fn kill(&mut self, segment: i64) {
        if let Some(c) = self.segments.get_mut(&segment)
            && c.live > 0
        {
            c.live -= 1;
            self.dead += 1;
        }
    }

    /// `segment` is deleted, with its dead alerts.
    fn remove(&mut self, segment: i64) {
        if let Some(c) = self.segments.remove(&segment) {
            self.dead = self.dead.saturating_sub(u64::from(c.rows - c.live));
        }
    }

    /// Whether more alerts stored are dead than live (and at least
    /// [`DEAD_AT_LEAST`]): then some segment is under half live, and
    /// rewriting those (a prune that forgets nothing) bounds the store to
    /// about twice what is live, however alerts are written again. A
    /// segment kept by one long-lived alert would otherwise hold its dead
    /// ones until the next prune.
    pub(crate) fn needs_compaction(&self) -> bool {
        self.dead >= DEAD_AT_LEAST && self.dead > self.by_fingerprint.len() as u64
    }

    #[cfg(test)]
    fn live(&self) -> BTreeMap<i64, Counts> {
        self.segments.clone()
    }
}

/// A prune, planned (see [`Index::plan_prune`]).
#[derive(Debug)]
pub(crate) struct Prune {
    /// Alerts that ended before this (microseconds) are forgotten.
    before: i64,
    pub gone: Vec<u64>,
    pub delete: Vec<i64>,
    pub rewrite: Vec<i64>,
    pub seq: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fp: u64, ends: i64, body: &str) -> AlertRow {
        AlertRow {
            fingerprint: fp,
            source: "alertmanager".into(),
            service: "api".into(),
            starts_at: jiff::Timestamp::UNIX_EPOCH,
            ends_at: timestamp_from_micros(ends).unwrap(),
            updated_at: timestamp_from_micros(7).unwrap(),
            body: body.into(),
        }
    }

    #[test]
    fn a_segment_reads_back_as_written() {
        let rows = vec![
            row(u64::MAX, 5, "{\"labels\":{\"é\":\"x\"}}"),
            row(0, i64::from(i32::MAX), ""),
            AlertRow {
                source: "pagerduty".into(),
                service: String::new().into(),
                ..row(3, 1, "b")
            },
        ];
        let blob = encode(rows.iter());
        assert_eq!(blob[0], COMPRESSED);
        assert_eq!(decode(&blob).unwrap(), rows);
        assert_eq!(decode(&encode([].iter())).unwrap(), vec![]);
        // Segments written before compression still read.
        let plain = encode_plain(rows.iter());
        assert_eq!(plain[0], PLAIN);
        assert_eq!(decode(&plain).unwrap(), rows);
    }

    #[test]
    fn a_writer_s_buffers_leave_nothing_of_one_segment_in_the_next() {
        let mut scratch = Scratch::default();
        let big: Vec<AlertRow> = (0..500).map(|i| row(i, 5, &"x".repeat(3000))).collect();
        let small = vec![row(7, 9, "small")];
        for rows in [&big, &small, &big, &small] {
            let blob = encode_with(rows.iter(), &mut scratch);
            assert_eq!(blob, encode(rows.iter()));
            assert_eq!(&decode(&blob).unwrap(), rows);
        }
        // A small write's buffers are kept; over a megabyte, not.
        assert!(scratch.plain.capacity() > 0);
        encode_with(big.iter(), &mut scratch);
        assert!(big.len() * 3000 > SCRATCH_KEPT);
        assert_eq!(
            (scratch.plain.capacity(), scratch.packed.capacity()),
            (0, 0)
        );
    }

    #[test]
    fn a_segment_of_alike_alerts_is_compressed() {
        let rows: Vec<AlertRow> = (0..1000)
            .map(|i| {
                let body = format!(
                    "{{\"labels\":{{\"alertname\":\"BenchAlert\",\"id\":\"r1-1-{i}\",\"instance\":\"host-{:03}:9100\",\"service\":\"svc-{:02}\"}},\"annotations\":{{\"summary\":\"bench alert {i}\"}},\"generatorURL\":\"\",\"timeout\":false}}",
                    i % 500,
                    i % 10
                );
                row(i, 5, &body)
            })
            .collect();
        let (packed, plain) = (encode(rows.iter()), encode_plain(rows.iter()));
        assert!(
            packed.len() * 3 < plain.len(),
            "{} bytes compressed of {}",
            packed.len(),
            plain.len()
        );
        assert_eq!(decode(&packed).unwrap(), rows);
    }

    #[test]
    fn damage_to_a_compressed_segment_is_named_not_read() {
        let blob = encode([row(1, 5, "body"), row(2, 5, "body")].iter());
        assert!(decode(&[]).unwrap_err().contains("empty"));
        for cut in 1..blob.len() {
            let err = decode(&blob[..cut]).unwrap_err();
            assert!(
                err.contains("cut short") || err.contains("decompress"),
                "{err}"
            );
        }
        // A length no LZ4 block can expand to is refused before any
        // allocation for it.
        let mut huge = blob.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).unwrap_err().contains("cannot come out of"));
        let mut bad = blob;
        let at = bad.len() - 3;
        bad[at] ^= 0xff;
        assert!(decode(&bad).is_err());
    }

    #[test]
    fn damage_is_named_not_read() {
        let blob = encode_plain([row(1, 5, "body")].iter());
        for cut in 0..blob.len() {
            let err = decode(&blob[..cut]).unwrap_err();
            assert!(
                err.contains("cut short") || err.contains("do not fit"),
                "{err}"
            );
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert_eq!(decode(&longer).unwrap_err(), "1 bytes after the last alert");
        let mut other = blob.clone();
        other[0] = 9;
        assert!(decode(&other).unwrap_err().contains("encoding version 9"));
        let mut bad = blob.clone();
        let at = bad.len() - 1;
        bad[at] = 0xff;
        assert!(decode(&bad).unwrap_err().contains("text at byte"));
        // A count far beyond what the bytes hold is refused before any
        // allocation for it.
        let mut huge = blob;
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).unwrap_err().contains("do not fit"));
    }

    #[test]
    fn a_write_deletes_the_segments_it_leaves_without_live_alerts() {
        let mut index = Index::from_segments(&[]);
        let first = index.plan([row(1, 9, ""), row(2, 9, "")].iter());
        assert_eq!((first.seq, &first.delete[..]), (1, &[][..]));
        index.apply(&first);
        let second = index.plan([row(1, 9, "")].iter());
        assert!(second.delete.is_empty(), "alert 2 still lives in 1");
        index.apply(&second);
        let third = index.plan([row(2, 9, ""), row(1, 9, "")].iter());
        assert_eq!(third.delete, vec![1, 2]);
        index.apply(&third);
        assert_eq!(
            index.live(),
            BTreeMap::from([(3, Counts { rows: 2, live: 2 })])
        );
        // A write that failed took its seq all the same.
        let lost = index.plan([row(5, 9, "")].iter());
        assert_eq!(lost.seq, 4);
        assert_eq!(index.plan([].iter()).seq, 5);
    }

    #[test]
    fn segments_kept_by_one_alert_each_call_for_a_compaction() {
        let mut index = Index::from_segments(&[]);
        // Each write: a crowd written again and again, and one alert that
        // stays (a different one each time), keeping its segment alive.
        let write = |index: &mut Index, k: u64| {
            let mut rows: Vec<AlertRow> = (1..=5_000).map(|fp| row(fp, 99, "crowd")).collect();
            rows.push(row(1_000_000 + k, 99, "stays"));
            let w = index.plan(rows.iter());
            assert!(w.delete.is_empty(), "every segment keeps its stayer");
            index.apply(&w);
        };
        write(&mut index, 1);
        write(&mut index, 2);
        assert_eq!(index.dead, 5_000);
        assert!(!index.needs_compaction(), "fewer than 10,000 dead");
        write(&mut index, 3);
        assert_eq!(index.dead, 10_000);
        assert!(index.needs_compaction(), "10,000 dead, 5,003 live");
        // A prune that forgets nothing rewrites the segments under half
        // live (the first two), and their dead go with them.
        let prune = index.plan_prune(i64::MIN);
        assert!(prune.gone.is_empty() && prune.delete.is_empty());
        assert_eq!(prune.rewrite, vec![1, 2]);
        assert!(index.is_live_in(1_000_001, 1, &prune));
        assert!(!index.is_live_in(1, 1, &prune));
        index.apply_prune(&prune, &[(1_000_001, 99), (1_000_002, 99)]);
        assert_eq!(index.dead, 0);
        assert!(!index.needs_compaction());
        assert_eq!(
            index.live(),
            BTreeMap::from([
                (
                    3,
                    Counts {
                        rows: 5_001,
                        live: 5_001
                    }
                ),
                (prune.seq, Counts { rows: 2, live: 2 }),
            ])
        );
    }

    #[test]
    fn read_back_later_segments_win() {
        let index = Index::from_segments(&[
            (4, vec![row(1, 9, "old"), row(2, 9, "")]),
            (6, vec![row(1, 9, "new")]),
        ]);
        assert_eq!(
            index.live(),
            BTreeMap::from([
                (4, Counts { rows: 2, live: 1 }),
                (6, Counts { rows: 1, live: 1 }),
            ])
        );
        assert_eq!(index.next, 7);
    }

    #[test]
    fn a_prune_forgets_ended_alerts_and_rewrites_sparse_segments() {
        let mut index = Index::from_segments(&[
            (1, vec![row(1, 5, ""), row(2, 5, "")]),
            (2, vec![row(3, 5, ""), row(4, 50, ""), row(5, 50, "")]),
            (
                3,
                vec![
                    row(6, 5, ""),
                    row(7, 50, ""),
                    row(8, 50, ""),
                    row(9, 50, ""),
                ],
            ),
        ]);
        let prune = index.plan_prune(10);
        let mut gone = prune.gone.clone();
        gone.sort_unstable();
        assert_eq!(gone, vec![1, 2, 3, 6]);
        assert_eq!(prune.delete, vec![1]);
        // 2 of 3 live: kept; 3 of 4 live: kept.
        assert!(prune.rewrite.is_empty());
        index.apply_prune(&prune, &[]);
        // Then 4 and 8 are written again elsewhere: segment 2 keeps 1 of
        // 3, segment 3 keeps 2 of 4 (not under half).
        let w = index.plan([row(4, 50, ""), row(8, 50, "")].iter());
        index.apply(&w);
        let prune = index.plan_prune(10);
        assert!(prune.gone.is_empty() && prune.delete.is_empty());
        assert_eq!(prune.rewrite, vec![2]);
        assert!(index.is_live_in(5, 2, &prune));
        assert!(
            !index.is_live_in(4, 2, &prune),
            "its latest is in segment {}",
            w.seq
        );
        index.apply_prune(&prune, &[(5, 50)]);
        assert_eq!(
            index.live(),
            BTreeMap::from([
                (3, Counts { rows: 4, live: 2 }),
                (w.seq, Counts { rows: 2, live: 2 }),
                (prune.seq, Counts { rows: 1, live: 1 }),
            ])
        );
    }
}
