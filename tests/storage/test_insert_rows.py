"""Rows written many per statement (storage/warehouse.py insert_rows): every row lands once, across
the statements' boundary, with list and NULL values as they were given."""

from __future__ import annotations

from pathlib import Path

from mbdg_assets.storage import warehouse
from mbdg_assets.storage.warehouse import ROWS_PER_STATEMENT, insert_rows


def test_rows_across_several_statements_land_once_each(tmp_path: Path):
    rows = [[f"r{i:04d}", i, [f"p{i}", "shared"], None if i % 3 else "dup"] for i in range(2 * ROWS_PER_STATEMENT + 5)]
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        con.execute("CREATE TABLE t (id VARCHAR PRIMARY KEY, n INTEGER, paths VARCHAR[], note VARCHAR)")
        insert_rows(con, "INSERT INTO t", rows)
        insert_rows(con, "INSERT INTO t", [])
        stored = con.execute("SELECT id, n, paths, note FROM t ORDER BY id").fetchall()
        insert_rows(con, "INSERT OR REPLACE INTO t (id, n, paths, note)", [["r0001", -1, [], "again"]])
        replaced = con.execute("SELECT n, paths, note, (SELECT count(*) FROM t) FROM t WHERE id = 'r0001'").fetchone()
    assert [list(row) for row in stored] == rows
    assert replaced == (-1, [], "again", len(rows))
