"""`syncd demand import FILE.csv`: the case system's report of counts, refused when it holds
people."""

from __future__ import annotations

from syncd.capacity.demand import csv_rows
from syncd.cli import main
from syncd.config import load_config
from syncd.runtime import open_runtime
from syncd.store.capacity import load_demand

CONFIG = """
database_url = "sqlite:///{db}"
[[sites]]
id = "lilleby"
name = "Jobcenter Lilleby"
[[conversation_types]]
code = "jobsamtale"
title = "Jobsamtale"
minutes = 30
"""


def setup(tmp_path):
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(CONFIG.format(db=tmp_path / "s.db"))
    assert main(["-c", str(cfg), "db", "upgrade"]) == 0
    return str(cfg)


def stored(cfg):
    from datetime import date

    rt = open_runtime(load_config(cfg))
    with rt.db.read() as s:
        out = load_demand(s, date(2026, 1, 1), date(2028, 1, 1))
    rt.db.dispose()
    return out


def test_import_stores_counts(tmp_path, capsys):
    cfg = setup(tmp_path)
    report = tmp_path / "frister.csv"
    report.write_text(
        "\ufeffMatrikel;Hold;Samtaletype;Fristuge;Sidste afholdelsesdato;Antal\r\n"
        "lilleby;Dagpenge;jobsamtale;2027-W07;2027-02-26;14\r\n"
        "lilleby;;jobsamtale;2027-W08;2027-03-05;9\r\n",
        encoding="utf-8",
    )
    assert main(["-c", cfg, "demand", "import", str(report)]) == 0
    assert "2 counts stored (23 citizens)" in capsys.readouterr().out
    assert sorted(d.count for d in stored(cfg)) == [9, 14]


def test_import_refuses_a_cpr_number_and_stores_nothing(tmp_path, capsys):
    cfg = setup(tmp_path)
    report = tmp_path / "frister.csv"
    report.write_text(
        "site,type,deadline_week,latest_date,count\n"
        "lilleby,jobsamtale,2027-W07,2027-02-26,14\n"
        "lilleby,jobsamtale 010203-1234,2027-W08,2027-03-05,9\n"
    )
    assert main(["-c", cfg, "demand", "import", str(report)]) == 2
    err = capsys.readouterr().err
    assert "refused, nothing stored: line 3, column 'type': contains a CPR number" in err
    assert "010203" not in err
    assert stored(cfg) == []


def test_import_refuses_a_list_of_people(tmp_path, capsys):
    cfg = setup(tmp_path)
    report = tmp_path / "borgere.csv"
    report.write_text(
        "site;navn;type;deadline_week;latest_date;count\n"
        "lilleby;Anna;jobsamtale;2027-W07;2027-02-26;1\n"
    )
    assert main(["-c", cfg, "demand", "import", str(report)]) == 2
    assert "column 'navn' looks like person-level data" in capsys.readouterr().err
    assert stored(cfg) == []


def test_csv_rows_reads_either_delimiter_and_skips_blank_lines() -> None:
    assert csv_rows("a,b\n1,2\n\n") == [{"a": "1", "b": "2"}]
    assert csv_rows("\ufeffa;b\r\n1;2\r\n") == [{"a": "1", "b": "2"}]
