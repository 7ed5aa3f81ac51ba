//! The record selector (README "`read`": `records`, `flatten`, `fields`,
//! `dirty_records`): parses a page, finds its records at the records path,
//! flattens them, converts typed fields, and counts dirty records.
//!
//! Where nothing else reads at or below the records path and neither typed
//! fields nor an incremental cursor needs each record as a map, the page
//! is transcoded straight to NDJSON ([`transcode`]: one pass, values
//! copied as sent). Where the transcoder declines, the page is
//! parsed in one pass ([`page::parse`]) that keeps each record as raw text
//! — or, with neither typed fields nor an incremental cursor, writes it
//! straight to NDJSON ([`flatten::FlatOut`]) — so a record costs no
//! `Value` and no map on the way out.

use crate::config::{Field, Flatten, Read};
use crate::error::Error;
use crate::fields::{self, Spec};
use crate::flatten::{self, FlatOut, FlattenError};
use crate::jsonpath::{self, Path};
use crate::read::cursor::Cursor;
use crate::read::page::{self, Record};
use crate::read::transcode;
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::cell::RefCell;

pub struct Selector {
    records_path: Path,
    /// Nothing but the records is read at or below the records path, so
    /// they can stay raw text until they are flattened ([`page`]).
    split_records: bool,
    /// Records go straight to output: neither typed fields nor an
    /// incremental cursor needs each as a map.
    straight: bool,
    flatten: Flatten,
    fields: Option<Vec<Field>>,
    dirty_records: u64,
    /// Dirty records so far in this run.
    dirty: u64,
    /// Records emitted or skipped so far in this run.
    records_seen: u64,
    /// The transcoder's buffers, kept from page to page.
    scratch: RefCell<transcode::Scratch>,
}

/// The records of one page, selected.
pub struct Selected {
    /// NDJSON, one flat object per line.
    pub records: Vec<u8>,
    pub count: u32,
    pub warnings: Vec<String>,
}

impl Selector {
    /// The selector of `read`; `other_paths` are the paths into a response
    /// that something else reads, and `incremental` says whether the
    /// cursor looks at each record.
    pub fn new(read: &Read, other_paths: &[&Path], incremental: bool) -> Selector {
        let records_path = read.records.get().clone();
        let split_records = jsonpath::is_plain(&records_path)
            && !other_paths.iter().any(|p| page::overlaps(p, &records_path));
        Selector {
            records_path,
            split_records,
            straight: read.fields.is_none() && !incremental,
            flatten: read.flatten.clone(),
            fields: read.fields.clone(),
            dirty_records: read.dirty_records,
            dirty: 0,
            records_seen: 0,
            scratch: RefCell::default(),
        }
    }

    /// `read.records`, parsed.
    pub fn records_path(&self) -> &Path {
        &self.records_path
    }

    /// The records stay apart from the rest of the page when it is parsed.
    #[cfg(test)]
    pub fn splits_records(&self) -> bool {
        self.split_records
    }

    /// Parses a page the fastest way the config allows.
    pub fn parse<'b>(&self, body: &'b [u8]) -> serde_json::Result<Parsed<'b>> {
        let body_len = body.len();
        if let Some(parsed) = self.parse_transcoding(body) {
            return Ok(parsed);
        }
        if let Some(parsed) = self.parse_flattening(body) {
            return Ok(parsed);
        }
        if self.split_records {
            // Records kept apart to flatten one by one.
            let (doc, records) = page::parse(body, &self.records_path, None)?;
            return Ok(Parsed {
                doc,
                flat: None,
                body_len,
                records: Some(records),
            });
        }
        let doc = serde_json::from_slice(body)?;
        Ok(Parsed {
            doc,
            flat: None,
            body_len,
            records: None,
        })
    }

    /// The page transcoded to flat records in one pass ([`transcode`]),
    /// where the config allows it and the transcoder does the whole page;
    /// `None`: parse it another way.
    fn parse_transcoding<'b>(&self, body: &'b [u8]) -> Option<Parsed<'b>> {
        if !(self.split_records && self.straight) {
            return None;
        }
        let mut scratch = self.scratch.borrow_mut();
        let done = transcode::transcode(
            body,
            &self.records_path,
            &self.flatten.separator,
            self.flatten.arrays,
            &mut scratch,
        )?;
        Some(Parsed {
            doc: done.doc,
            flat: Some(Flattened {
                out: done.records,
                count: done.count,
                dropped: done.dropped,
            }),
            body_len: body.len(),
            records: Some(vec![]),
        })
    }

    /// The page parsed with its records flattened straight to output in the
    /// same pass, where the config allows it and every record can go that
    /// way; `None`: parse it another way.
    fn parse_flattening<'b>(&self, body: &'b [u8]) -> Option<Parsed<'b>> {
        if !(self.split_records && self.straight) {
            return None;
        }
        let mut f = page::Flattening {
            out: FlatOut::with_capacity(body.len()),
            separator: &self.flatten.separator,
            arrays: self.flatten.arrays,
            count: 0,
            dropped: 0,
        };
        let (doc, records) = page::parse(body, &self.records_path, Some(&mut f)).ok()?;
        Some(Parsed {
            doc,
            flat: Some(Flattened {
                out: f.out.out,
                count: f.count,
                dropped: f.dropped,
            }),
            body_len: body.len(),
            records: Some(records),
        })
    }

    /// How many records the page has.
    pub fn count(&self, parsed: &Parsed<'_>) -> usize {
        let apart = match &parsed.records {
            Some(records) => records.len(),
            None => flatten::extract(&parsed.doc, &self.records_path).len(),
        };
        parsed.flat.as_ref().map_or(0, |f| f.count as usize) + apart
    }

    /// The records of a page (response number `response` of the run) as
    /// flat output, and how many the page held (before dirty records or
    /// records the cursor refuses were skipped).
    pub fn select(
        &mut self,
        parsed: &mut Parsed<'_>,
        response: u32,
        cursor: &mut Cursor,
    ) -> Result<(Selected, u64), Error> {
        let straight = self.straight;
        let (separator, arrays) = (&self.flatten.separator, self.flatten.arrays);
        let specs: Option<Vec<Spec>> = self.fields.as_ref().map(|fs| {
            fs.iter()
                .map(|f| Spec {
                    from: &f.name,
                    kind: f.kind,
                    to: f.rename.as_deref().unwrap_or(&f.name),
                })
                .collect()
        });
        let (mut flat, mut count, mut dropped) = match parsed.flat.take() {
            Some(done) => {
                self.records_seen += done.count;
                let mut flat = FlatOut::with_capacity(0);
                flat.out = done.out;
                (flat, done.count as u32, done.dropped)
            }
            None => (FlatOut::with_capacity(parsed.body_len), 0, 0),
        };
        let mut warnings = Vec::new();
        let records = parsed.items(&self.records_path);
        let page_records = u64::from(count) + records.len() as u64;
        for (i, item) in records.into_iter().enumerate() {
            let index = self.records_seen;
            self.records_seen += 1;
            if straight
                && let Item::Raw(raw) = &item
                && let Some(d) = flat.write(raw.get(), separator, arrays)
            {
                dropped += d;
                count += 1;
                continue;
            }
            let at = || format!("record {index} (item {i} of response {response})");
            let record = item.value();
            let (map, d) = flatten::flatten(&record, separator, arrays).map_err(|e| match e {
                // The whole response as one record, holding one array: the
                // records are that array, most likely.
                FlattenError::Array(_)
                    if self.records_path.is_empty()
                        && let Some(key) = super::notice::one_array(&record) =>
                {
                    let key =
                        super::notice::path_text(&[crate::jsonpath::Segment::Key(key.to_string())]);
                    Error::NonCompliantRecord(format!(
                        "{}: read.records is unset, so the whole response is one record, and \
                         it is an object holding one array, `{key}`: set \
                         `\"records\": \"{key}\"` to read its items as records",
                        at()
                    ))
                }
                FlattenError::Array(_)
                | FlattenError::Collision(_)
                | FlattenError::NotAnObject(_) => {
                    Error::NonCompliantRecord(format!("{}: {e}", at()))
                }
            })?;
            dropped += d;
            if !cursor.admit(&map) {
                continue;
            }
            let map = match &specs {
                None => map,
                Some(specs) => match fields::project(&map, specs) {
                    Ok(projected) => projected,
                    Err(why) => {
                        self.dirty += 1;
                        if self.dirty > self.dirty_records {
                            return Err(Error::DirtyRecords(format!(
                                "{}: {why} ({} dirty records, read.dirty_records allows {})",
                                at(),
                                self.dirty,
                                self.dirty_records
                            )));
                        }
                        warnings.push(format!("skipped dirty {}: {why}", at()));
                        continue;
                    }
                },
            };
            serde_json::to_writer(&mut flat.out, &map).expect("writing to a Vec");
            flat.out.push(b'\n');
            count += 1;
        }
        if dropped > 0 {
            warnings.push(format!(
                "dropped {dropped} array fields (read.flatten.arrays = \"drop\")"
            ));
        }
        Ok((
            Selected {
                records: flat.out,
                count,
                warnings,
            },
            page_records,
        ))
    }
}

/// A page's document and, when they were kept apart, its records.
pub struct Parsed<'b> {
    pub doc: Value,
    /// Records already flattened while the page was parsed.
    flat: Option<Flattened>,
    /// The body's size: about the size of its records, flat.
    body_len: usize,
    /// `None`: the records are in `doc`, at the records path.
    records: Option<Vec<Record<'b>>>,
}

/// Records flattened by [`transcode`] or [`page::parse`].
struct Flattened {
    out: Vec<u8>,
    count: u64,
    dropped: u32,
}

/// One record of a page, wherever it is kept.
enum Item<'a> {
    Raw(&'a RawValue),
    Value(Cow<'a, Value>),
}

impl Item<'_> {
    fn value(&self) -> Cow<'_, Value> {
        match self {
            Item::Raw(raw) => Cow::Owned(
                serde_json::from_str(raw.get()).expect("a record the page parse already checked"),
            ),
            Item::Value(v) => Cow::Borrowed(v.as_ref()),
        }
    }
}

impl Parsed<'_> {
    fn items(&self, records_path: &Path) -> Vec<Item<'_>> {
        match &self.records {
            Some(records) => records
                .iter()
                .map(|r| match r {
                    Record::Raw(raw) => Item::Raw(raw),
                    Record::Built(v) => Item::Value(Cow::Borrowed(v)),
                })
                .collect(),
            None => flatten::extract(&self.doc, records_path)
                .into_iter()
                .map(Item::Value)
                .collect(),
        }
    }
}
