#!/usr/bin/env python3
"""Which B-trees a running SQLite tradeplane writes, commit by commit.

Reads the WAL of a live database (no lock: frames are parsed only up to the
first one whose salt does not match the header, so a frame being written
ends the walk) and names the table or index of every page each commit
wrote, from SQLite's dbstat table. Prints the frames per commit and, per
B-tree and page kind, the average frames per commit ("sqlite_schema" is
page 1, whose header holds the file's size: written whenever it grows).

    scripts/wal-pages.py DATA_DIR/tradeplane.db

Run it during a load (`tpctl bench --target webhook`, see BENCHMARKS.md):
the WAL is reset after each checkpoint, so it holds the last fraction of a
second of commits. Needs python3 built with dbstat (Debian's is).
"""
import collections
import sqlite3
import struct
import sys

WAL_HEADER = 32
FRAME_HEADER = 24


def commits(wal):
    """The page numbers of each whole commit in the WAL's bytes."""
    _magic, _version, page_size, _seq, salt1, salt2 = struct.unpack(">6I", wal[:24])
    offset, pages, done = WAL_HEADER, [], []
    while offset + FRAME_HEADER + page_size <= len(wal):
        page, size_after_commit, s1, s2 = struct.unpack(">4I", wal[offset:offset + 16])
        if (s1, s2) != (salt1, salt2):
            break
        pages.append(page)
        if size_after_commit:
            done.append(pages)
            pages = []
        offset += FRAME_HEADER + page_size
    return done


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    with open(path + "-wal", "rb") as wal_file:
        wal = wal_file.read()
    if len(wal) < WAL_HEADER:
        sys.exit("the WAL is empty: run this during a load")
    written = commits(wal)
    if not written:
        sys.exit("no whole commit in the WAL yet: run this during a load")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    owner = {page: (name, kind) for name, page, kind in
             db.execute("SELECT name, pageno, pagetype FROM dbstat")}
    frames = collections.Counter()
    for pages in written:
        for page in pages:
            frames[owner.get(page, ("(new or free)", ""))] += 1
    count = len(written)
    print(f"{count} commits, {sum(map(len, written)) / count:.1f} frames per commit")
    for (name, kind), n in frames.most_common():
        print(f"{n / count:6.2f}  {name} {kind}")


if __name__ == "__main__":
    main()
