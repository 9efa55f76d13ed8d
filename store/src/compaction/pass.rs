//! The two passes of a compaction and the swap.
//!
//! Pass one reads the sealed segments to learn each stream's newest state record and
//! ask the policy about it; pass two copies the surviving frames into outputs that
//! only end on input boundaries (so each output replaces whole inputs); the swap
//! installs them as the module header describes.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::catalog::{Checkpoint, CheckpointTrack, Location, SegmentEntry};
use crate::compaction::{CompactionReport, RetentionPolicy, StreamVerdict};
use crate::dir::{remove_files, sync_dir, TEMP_SUFFIX};
use crate::error::{CompactionError, FileError};
use crate::format::scan::{scan_segment, ScanItem};
use crate::format::segment::{encode_header, SegmentSpan, SEGMENT_HEADER_LEN};
use crate::record::RecordRef;
use crate::segment_file::read_span;
use crate::shared::Shared;

/// A sealed segment to rewrite.
struct Input {
    id: u32,
    span: SegmentSpan,
    path: PathBuf,
    file: Arc<File>,
    len: u64,
    end_lsn: u64,
}

/// What pass one decided.
struct Plan {
    dropped: HashSet<u64>,
    newest_state: HashMap<u64, u64>,
}

/// A finished output, not yet installed.
struct Output {
    id: u32,
    span: SegmentSpan,
    temp: PathBuf,
    path: PathBuf,
    file: File,
    len: u64,
    checkpoints: Vec<Checkpoint>,
}

/// Runs one compaction (the caller holds the compaction turn).
pub(super) fn compact(
    shared: &Shared,
    policy: &dyn RetentionPolicy,
) -> Result<CompactionReport, CompactionError> {
    let started = Instant::now();
    let inputs = sealed_inputs(shared);
    let mut report = CompactionReport::default();
    if let Some(first) = inputs.first() {
        let plan = survey(shared, &inputs, policy)?;
        report.streams_dropped = plan.dropped.len() as u64;
        let copier = Copier::new(shared, &plan, first.span.first_lsn())?;
        let (outputs, locations) = copier.copy_all(&inputs, &mut report)?;
        report.input_segments = inputs.len();
        report.input_bytes = inputs.iter().map(|i| i.len).sum();
        report.output_segments = outputs.len();
        report.output_bytes = outputs.iter().map(|o| o.len).sum();
        install(shared, &inputs, outputs, locations)?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The sealed segments (a prefix of the log) with the LSN each one's range ends at.
fn sealed_inputs(shared: &Shared) -> Vec<Input> {
    let catalog = shared.catalog();
    let segments = &catalog.segments;
    let sealed = segments.iter().take_while(|s| s.sealed).count();
    (0..sealed)
        .map(|i| {
            let segment = &segments[i];
            let next_first = segments.get(i + 1).map_or(u64::MAX, |n| n.span.first_lsn());
            let end_lsn = match segment.span {
                SegmentSpan::Log { .. } => next_first,
                SegmentSpan::Compacted { end_lsn, .. } => end_lsn.min(next_first),
            };
            Input {
                id: segment.id,
                span: segment.span,
                path: segment.path.clone(),
                file: Arc::clone(&segment.file),
                len: segment.readable_len,
                end_lsn,
            }
        })
        .collect()
}

/// Calls `each` for every record of the input that recovery would serve.
fn for_each_record(
    input: &Input,
    max_payload: u32,
    mut each: impl FnMut(usize, &[u8], RecordRef<'_>) -> Result<(), CompactionError>,
) -> Result<(), CompactionError> {
    let bytes = read_span(&input.file, 0, input.len as usize)
        .map_err(FileError::at("read segment", &input.path))?;
    let mut last = input.span.first_lsn().saturating_sub(1);
    for item in scan_segment(&bytes, max_payload).1 {
        if let ScanItem::Record {
            offset,
            len,
            record,
        } = item
        {
            if record.lsn > last && record.lsn < input.end_lsn {
                last = record.lsn;
                each(offset, &bytes[offset..offset + len], record)?;
            }
        }
    }
    Ok(())
}

/// Pass one: each stream's newest state record, and the policy's verdicts.
fn survey(
    shared: &Shared,
    inputs: &[Input],
    policy: &dyn RetentionPolicy,
) -> Result<Plan, CompactionError> {
    let state_kind = shared.config.compaction.state_kind;
    let mut streams: HashMap<u64, Option<(u64, Vec<u8>)>> = HashMap::new();
    for input in inputs {
        for_each_record(input, shared.config.max_payload_bytes, |_, _, record| {
            let newest = streams.entry(record.stream).or_default();
            if Some(record.kind) == state_kind {
                *newest = Some((record.lsn, record.payload.to_vec()));
            }
            Ok(())
        })?;
    }
    let mut plan = Plan {
        dropped: HashSet::new(),
        newest_state: HashMap::new(),
    };
    for (stream, newest) in streams {
        let payload = newest.as_ref().map(|(_, p)| p.as_slice());
        if policy.verdict(stream, payload) == StreamVerdict::Drop {
            plan.dropped.insert(stream);
        } else if let Some((lsn, _)) = newest {
            plan.newest_state.insert(stream, lsn);
        }
    }
    Ok(plan)
}

/// Pass two: copies surviving frames into `.tmp` outputs.
struct Copier<'a> {
    shared: &'a Shared,
    plan: &'a Plan,
    outputs: Vec<Output>,
    locations: HashMap<u64, Vec<Location>>,
    current: OpenOutput,
}

/// The output being written.
struct OpenOutput {
    id: u32,
    first_lsn: u64,
    temp: PathBuf,
    file: File,
    buffer: Vec<u8>,
    len: u64,
    track: CheckpointTrack,
    checkpoints: Vec<Checkpoint>,
}

/// Bytes buffered before an output write.
const COPY_BUFFER_BYTES: usize = 1 << 20;

type Copied = (Vec<Output>, HashMap<u64, Vec<Location>>);

impl<'a> Copier<'a> {
    fn new(shared: &'a Shared, plan: &'a Plan, first_lsn: u64) -> Result<Self, CompactionError> {
        Ok(Self {
            shared,
            plan,
            outputs: Vec::new(),
            locations: HashMap::new(),
            current: OpenOutput::create(shared, first_lsn)?,
        })
    }

    /// Copies every input; on failure deletes every output written so far.
    fn copy_all(
        mut self,
        inputs: &[Input],
        report: &mut CompactionReport,
    ) -> Result<Copied, CompactionError> {
        let result = self.copy_inputs(inputs, report);
        let mut temps: Vec<PathBuf> = self.outputs.iter().map(|o| o.temp.clone()).collect();
        temps.push(self.current.temp.clone());
        let end = inputs
            .last()
            .map_or(self.current.first_lsn, |input| input.end_lsn);
        let finished = result.and_then(|()| self.current.finish(&self.shared.dir, end));
        match finished {
            Ok(last) => {
                self.outputs.push(last);
                Ok((self.outputs, self.locations))
            }
            Err(error) => {
                let _ = remove_files(&self.shared.dir, &temps);
                Err(error)
            }
        }
    }

    /// Copies the inputs, closing an output at an input boundary once it is big enough.
    fn copy_inputs(
        &mut self,
        inputs: &[Input],
        report: &mut CompactionReport,
    ) -> Result<(), CompactionError> {
        let max_output = u64::from(self.shared.config.compaction.output_segment_bytes);
        for (i, input) in inputs.iter().enumerate() {
            self.copy(input, report)?;
            if let Some(next) = inputs
                .get(i + 1)
                .filter(|_| self.current.size() >= max_output)
            {
                let boundary = next.span.first_lsn();
                let done = std::mem::replace(
                    &mut self.current,
                    OpenOutput::create(self.shared, boundary)?,
                );
                let temp = done.temp.clone();
                match done.finish(&self.shared.dir, boundary) {
                    Ok(output) => self.outputs.push(output),
                    Err(error) => {
                        let _ = remove_files(&self.shared.dir, &[temp]);
                        return Err(error);
                    }
                }
            }
        }
        Ok(())
    }

    fn copy(
        &mut self,
        input: &Input,
        report: &mut CompactionReport,
    ) -> Result<(), CompactionError> {
        let state_kind = self.shared.config.compaction.state_kind;
        let plan = self.plan;
        let current = &mut self.current;
        let locations = &mut self.locations;
        for_each_record(
            input,
            self.shared.config.max_payload_bytes,
            |_, frame, record| {
                let superseded = Some(record.kind) == state_kind
                    && plan.newest_state.get(&record.stream) != Some(&record.lsn);
                if plan.dropped.contains(&record.stream) || superseded {
                    report.records_dropped += 1;
                    return Ok(());
                }
                report.records_kept += 1;
                let offset = current.append(frame, record.lsn)?;
                locations.entry(record.stream).or_default().push(Location {
                    seq: record.seq,
                    segment: current.id,
                    offset,
                });
                Ok(())
            },
        )
    }
}

impl OpenOutput {
    fn create(shared: &Shared, first_lsn: u64) -> Result<Self, CompactionError> {
        let temp = shared
            .dir
            .join(format!("{first_lsn:016x}.compaction{TEMP_SUFFIX}"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&temp)
            .map_err(FileError::at("create compaction output", &temp))?;
        Ok(Self {
            id: shared.segment_ids.fetch_add(1, Ordering::Relaxed),
            first_lsn,
            temp,
            file,
            buffer: Vec::with_capacity(COPY_BUFFER_BYTES),
            len: SEGMENT_HEADER_LEN as u64,
            track: CheckpointTrack::new(shared.config.checkpoint_interval_bytes),
            checkpoints: Vec::new(),
        })
    }

    /// Bytes written and buffered so far.
    fn size(&self) -> u64 {
        self.len + self.buffer.len() as u64
    }

    /// Appends one frame; returns its offset in the output.
    fn append(&mut self, frame: &[u8], lsn: u64) -> Result<u32, CompactionError> {
        let offset = self.size();
        self.checkpoints.extend(self.track.offer(lsn, offset));
        self.buffer.extend_from_slice(frame);
        if self.buffer.len() >= COPY_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(offset as u32)
    }

    fn flush(&mut self) -> Result<(), CompactionError> {
        self.file
            .write_all_at(&self.buffer, self.len)
            .map_err(FileError::at("write compaction output", &self.temp))?;
        self.len += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Flushes, writes the header naming the range, and syncs the file.
    fn finish(mut self, dir: &std::path::Path, end_lsn: u64) -> Result<Output, CompactionError> {
        self.flush()?;
        let span = SegmentSpan::Compacted {
            first_lsn: self.first_lsn,
            end_lsn,
        };
        self.file
            .write_all_at(&encode_header(span), 0)
            .and_then(|()| self.file.sync_data())
            .map_err(FileError::at("sync compaction output", &self.temp))?;
        Ok(Output {
            id: self.id,
            span,
            path: dir.join(span.file_name()),
            temp: self.temp,
            file: self.file,
            len: self.len,
            checkpoints: self.checkpoints,
        })
    }
}

/// Renames the outputs into place, swaps the catalog, deletes the inputs.
fn install(
    shared: &Shared,
    inputs: &[Input],
    outputs: Vec<Output>,
    locations: HashMap<u64, Vec<Location>>,
) -> Result<(), CompactionError> {
    for output in &outputs {
        fs::rename(&output.temp, &output.path)
            .map_err(FileError::at("install compaction output", &output.path))?;
    }
    sync_dir(&shared.dir)?;
    let installed: HashSet<PathBuf> = outputs.iter().map(|o| o.path.clone()).collect();
    let entries = outputs
        .into_iter()
        .map(|o| SegmentEntry {
            id: o.id,
            span: o.span,
            path: o.path,
            file: Arc::new(o.file),
            readable_len: o.len,
            checkpoints: o.checkpoints,
            sealed: true,
        })
        .collect();
    let ids: HashSet<u32> = inputs.iter().map(|i| i.id).collect();
    shared
        .catalog_mut()
        .replace_compacted(&ids, entries, locations);
    // An output that took an input's very name replaced it in the rename already.
    let doomed: Vec<PathBuf> = inputs
        .iter()
        .map(|i| i.path.clone())
        .filter(|path| !installed.contains(path))
        .collect();
    remove_files(&shared.dir, &doomed)?;
    Ok(())
}
