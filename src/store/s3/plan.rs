//! What an upload sends, and in what order: a plain function of the files
//! and two settings, with no I/O.
//!
//! A file at or above the multipart threshold goes up in parts, every other
//! file in one PutObject. The parts come first, then the other files largest
//! first: the long jobs start early and the short ones fill the gaps at the
//! end, when some workers are already idle.

use crate::store::walk::Entry;

/// S3's largest number of parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;

/// The requests of one upload, but for the multipart uploads' creation and
/// completion (one of each per multipart file).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Plan {
    /// The files that go up in parts, as indexes into the entries.
    pub multipart: Vec<usize>,
    /// Every part, file after file, then every other file, largest first.
    pub jobs: Vec<Job>,
}

/// One request for a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Job {
    /// A whole file (an index into the entries) in one PutObject.
    Put(usize),
    /// UploadPart `number` (from 1) of multipart file `upload` (an index
    /// into [`Plan::multipart`]): `len` bytes from `offset`.
    Part { upload: usize, number: u32, offset: u64, len: u64 },
}

/// The plan for `entries`: files of at least `threshold` bytes in parts of
/// `part_size`, grown for a file that would otherwise need more than 10,000.
pub(super) fn plan(entries: &[Entry], threshold: u64, part_size: u64) -> Plan {
    let multipart: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].len >= threshold).collect();
    let mut jobs = Vec::new();
    for (upload, &i) in multipart.iter().enumerate() {
        let file_len = entries[i].len;
        let size = part_size.max(file_len.div_ceil(MAX_PARTS));
        let (mut offset, mut number) = (0, 1);
        while offset < file_len {
            let len = size.min(file_len - offset);
            jobs.push(Job::Part { upload, number, offset, len });
            offset += len;
            number += 1;
        }
    }
    let mut whole: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].len < threshold).collect();
    // A stable sort: files of one size keep their (name) order.
    whole.sort_by_key(|&i| std::cmp::Reverse(entries[i].len));
    jobs.extend(whole.into_iter().map(Job::Put));
    Plan { multipart, jobs }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn entries(files: &[(&str, u64)]) -> Vec<Entry> {
        files.iter().map(|&(key, len)| Entry { key: key.to_owned(), path: key.into(), len }).collect()
    }

    #[test]
    fn parts_come_first_then_the_other_files_largest_first() {
        let files = entries(&[("a.txt", 10), ("big.bin", 20 * MIB), ("c.txt", 3), ("d.bin", 10 * MIB), ("e.txt", 10)]);
        let plan = plan(&files, 10 * MIB, 4 * MIB);
        let part = |upload, number, offset: u64, len: u64| Job::Part { upload, number, offset, len };
        assert_eq!(plan.multipart, [1, 3]);
        assert_eq!(
            plan.jobs,
            [
                part(0, 1, 0, 4 * MIB),
                part(0, 2, 4 * MIB, 4 * MIB),
                part(0, 3, 8 * MIB, 4 * MIB),
                part(0, 4, 12 * MIB, 4 * MIB),
                part(0, 5, 16 * MIB, 4 * MIB),
                part(1, 1, 0, 4 * MIB),
                part(1, 2, 4 * MIB, 4 * MIB),
                part(1, 3, 8 * MIB, 2 * MIB),
                // a.txt and e.txt are of one size: name order.
                Job::Put(0),
                Job::Put(4),
                Job::Put(2),
            ]
        );
    }

    #[test]
    fn without_large_files_there_are_no_parts() {
        let plan = plan(&entries(&[("a", 0), ("b", 5 * MIB - 1)]), 5 * MIB, 5 * MIB);
        assert_eq!(plan, Plan { multipart: vec![], jobs: vec![Job::Put(1), Job::Put(0)] });
        assert_eq!(super::plan(&[], 5 * MIB, 5 * MIB), Plan { multipart: vec![], jobs: vec![] });
    }

    #[test]
    fn parts_grow_so_no_file_needs_more_than_ten_thousand() {
        let len = 200 * 1024 * MIB + 1;
        let plan = plan(&entries(&[("huge.bin", len)]), 64 * MIB, 8 * MIB);
        assert_eq!(plan.jobs.len(), 10_000);
        let size = len.div_ceil(10_000);
        let mut next = 0;
        for (i, job) in plan.jobs.iter().enumerate() {
            let Job::Part { upload: 0, number, offset, len: part } = *job else { panic!("{job:?}") };
            assert_eq!((number as usize, offset), (i + 1, next));
            assert!(part == size || i == 9_999, "part {number} has {part} bytes");
            next += part;
        }
        assert_eq!(next, len, "the parts cover the file");
    }
}
