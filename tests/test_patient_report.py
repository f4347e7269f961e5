"""Per-patient reports: content, privacy (one patient per report), escaping, files, index."""

from __future__ import annotations

import base64
import re
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pandas as pd
import pytest
from conftest import SESSIONS, VALID, write_dataset

from outcomes import Cohort
from outcomes.reports import _patient_page as page_module
from outcomes.reports.patient import (
    patient_report_data,
    render_patient_html,
    render_patient_pdf,
    write_patient_reports,
)

SCRIPT = "<script>alert('x')</script>"


def _pdf_text(path: Path) -> str:
    """Text drawn on a PDF page (the content streams, inflated; Helvetica text is plain bytes)."""
    raw = path.read_bytes()
    parts = []
    for m in re.finditer(rb"/Length (\d+)[^>]*>>\s*stream\r?\n", raw):
        data = raw[m.end():m.end() + int(m.group(1))]  # exactly /Length bytes (the data may end in \r)
        try:
            parts.append(zlib.decompress(data).decode("latin-1"))
        except zlib.error:
            parts.append(data.decode("latin-1"))
    return "".join(parts)


def _svgs(html: str) -> list[str]:
    """The SVG documents inlined in an HTML report as data URIs."""
    return [base64.b64decode(m).decode("utf-8") for m in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)]


_SVG = "{http://www.w3.org/2000/svg}"


def _sessions_with(extra_rows: list[str], notes: dict[str, str] | None = None) -> str:
    lines = SESSIONS.splitlines()
    for sid, note in (notes or {}).items():
        lines = [ln if not ln.startswith(sid + ",") else ln.rsplit(",", 1)[0] + "," + note for ln in lines]
    return "\n".join(lines + extra_rows) + "\n"


@pytest.fixture
def cohort(tmp_path: Path) -> Cohort:
    # Each patient's note is unique, so a report leaking another patient's data is caught.
    sessions = _sessions_with([], {"X3": f"worse after {SCRIPT}", "X4": "P002-secret-note",
                                   "X5": "P003-secret-note"})
    return Cohort.from_folder(write_dataset(tmp_path / "data", {"sessions": sessions}))


@pytest.fixture
def busy_cohort(tmp_path: Path) -> Cohort:
    """P001 with 300 sessions at pain 8 (01-05 to 01-24) and a red flag on 01-19 (week 2)."""
    rows = [f"S{i},P001,2026-01-{5 + i // 15:02d}T{6 + i % 15:02d}:{(i * 2) % 60:02d},seated slider,slider,seated,1,"
            f"2,20,8,9,same,false," for i in range(300)]
    assessments = VALID["assessments"].replace(
        "P001,2026-01-19,5,4,2,2,2,1,2,1,1,1,0,1,1,8,55,3,false,false,false",
        "P001,2026-01-19,5,4,2,2,2,1,2,1,1,1,0,1,1,8,55,3,true,false,false")
    return Cohort.from_folder(write_dataset(tmp_path / "busy", {"sessions": _sessions_with(rows),
                                                                "assessments": assessments}))


# ---------------------------------------------------------------- data


def test_report_data_holds_only_that_patient(cohort):
    data = patient_report_data(cohort, "P001")
    assert data["patient_id"] == "P001"
    assert len(data["assessments"]) == 2 and len(data["sessions"]) == 3
    assert data["header"]["site_id"] == "S01" and data["header"]["schedule"] == "weekly"
    text = repr(data)
    assert "P002" not in text and "P003" not in text and "secret" not in text


def test_report_rows_are_found_by_position_whatever_the_index(cohort):
    expected = patient_report_data(cohort, "P002")
    for frame in (cohort.assessments, cohort.sessions, cohort.flags):
        frame.index = frame.index[::-1] + 1000  # labels that are no positions
    for data in (patient_report_data(cohort, "P002"), patient_report_data(cohort, "P001")):
        pid = data["patient_id"]
        assert len(data["assessments"]) == (cohort.assessments["patient_id"] == pid).sum()
        assert len(data["sessions"]) == (cohort.sessions["patient_id"] == pid).sum()
    pd.testing.assert_frame_equal(patient_report_data(cohort, "P002")["sessions"], expected["sessions"])


def test_flags_most_urgent_first_and_summarised(busy_cohort):
    data = patient_report_data(busy_cohort, "P001")
    assert data["stop"]
    rules = [g["rule"] for g in data["flags"]]
    assert rules[0] == "red_flag" and rules[1] == "sessions_after_red_flag"
    after = data["flags"][1]
    assert after["summary"].startswith("on ") and "glide sessions logged after the red flag of 2026-01-19" in after["summary"]
    # pain 8 before every session is high pain at rest: a note, never a stop rule
    assert "severe_pain" not in rules and "high_pain_at_rest" not in rules
    assert data["rest_note"].startswith("High pain before sessions: pain 8/10 or more before 300 sessions")


def test_resolved_episodes_are_history_not_a_stop(tmp_path):
    # P001: one flare (X3) long before the data ends, then 20 calm sessions: resolved, no banner
    rows = [f"Q{i},P001,2026-02-{1 + i:02d}T08:00,seated slider,slider,seated,1,2,20,3,3,same,false,"
            for i in range(20)]
    cohort = Cohort.from_folder(write_dataset(tmp_path / "r", {"sessions": _sessions_with(rows)}))
    data = patient_report_data(cohort, "P001")
    assert not data["stop"] and not data["flags"]
    assert any(h.startswith("Session flare: 1 episode (1 session)") and h.endswith("resolved") for h in data["history"])
    html = render_patient_html(data, tmp_path / "r.html").read_text("utf-8")
    assert "STOP AND CONSULT" not in html and "Earlier, resolved: Session flare" in html


def test_unknown_patient_is_named_with_valid_examples(cohort):
    with pytest.raises(ValueError, match=r"'P999'.*P001, P002, P003"):
        patient_report_data(cohort, "P999")
    with pytest.raises(ValueError, match="'nobody'"):
        write_patient_reports(cohort, "/nonexistent-never-created", patient_ids=["P001", "nobody"])


# ---------------------------------------------------------------- rendering


def test_html_escapes_text_from_the_data(cohort, tmp_path):
    path = render_patient_html(patient_report_data(cohort, "P001"), tmp_path / "P001.html")
    html = path.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(" in html


def test_html_is_self_contained_and_ordered(cohort, tmp_path):
    html = render_patient_html(patient_report_data(cohort, "P001"), tmp_path / "a.html").read_text("utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert html.count('src="data:image/svg+xml;base64,') == 3  # primary outcome, two more, sessions
    order = [html.index(s) for s in ("patient P001", "STOP AND CONSULT", "data:image", "<h2>Summary",
                                     "<h2>Definitions", "<h2>Provenance")]
    assert order == sorted(order)
    assert cohort.provenance["inputs"]["sessions"]["sha256"] in html


def test_html_figures_are_small_svgs_of_the_patients_points(cohort, tmp_path):
    data = patient_report_data(cohort, "P001")
    html = render_patient_html(data, tmp_path / "s.html").read_text("utf-8")
    svgs = _svgs(html)
    assert len(svgs) == 3 and all(len(s) < 20_000 for s in svgs)  # a few dozen primitives, not a renderer's dump
    primary = ET.fromstring(svgs[0])  # well-formed XML
    outcome = data["outcomes"][0]
    weeks = data["assessments"].dropna(subset=[outcome])["week"].sort_values().to_list()
    circles = [float(c.get("cx")) for c in primary.iter(_SVG + "circle")]
    assert len(circles) == len(weeks) >= 2
    # markers sit at their week on the 0..x_max axis (1.0 in from the left, 6.8 in wide; 72 points an inch)
    x_max = data["x_max"]
    assert circles == pytest.approx([72 * (1.0 + 6.8 * w / x_max) for w in weeks], abs=0.01)
    texts = [t.text for t in primary.iter(_SVG + "text")]
    step = 1 if x_max <= 8 else 2 if x_max <= 16 else 4
    assert [t for t in texts if t.isdigit()][:int(x_max // step) + 1] == [str(w) for w in range(0, int(x_max) + 1, step)]
    assert texts[0] == data["instruments"][outcome]["label"] and "Weeks since enrolment" in texts
    assert data["instruments"][outcome]["unit"] in texts  # the y axis label
    sessions = ET.fromstring(svgs[2])
    texts = [t.text for t in sessions.iter(_SVG + "text")]
    assert texts.count("Mon") == 1 and "Glide level" in texts and "session flare (1)" in texts


def test_hostile_text_is_escaped_in_html_and_svg_and_printed_in_pdf(cohort, tmp_path):
    hostile = '<img src=x onerror=alert(1)>&"\x0b'  # and a control character XML forbids
    data = patient_report_data(cohort, "P001")
    o = data["outcomes"][0]
    data = dict(data, patient_id=hostile, instruments={**data["instruments"], o: {**data["instruments"][o],
                                                                                  "label": hostile}})
    html = render_patient_html(data, tmp_path / "h.html").read_text("utf-8")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;&amp;" in html
    svgs = _svgs(html)
    for svg in svgs:
        ET.fromstring(svg)  # still well-formed
    assert "<img" not in svgs[0] and "&lt;img src=x onerror=alert(1)&gt;&amp;" in svgs[0]
    pdf = _pdf_text(render_patient_pdf(data, tmp_path / "h.pdf"))
    assert "patient <img src=x onerror=alert\\(1\\)>&\"" in pdf  # printed as typed (PDF-escaped brackets)


def test_pdf_cross_reference_table_points_at_each_object(cohort, tmp_path):
    raw = render_patient_pdf(patient_report_data(cohort, "P002"), tmp_path / "x.pdf").read_bytes()
    start = int(raw.rsplit(b"startxref", 1)[1].split()[0])
    assert raw[start:].startswith(b"xref\n0 ")
    offsets = re.findall(rb"(\d{10}) 00000 n", raw[start:])
    assert len(offsets) >= 5
    for i, off in enumerate(offsets, 1):
        assert raw[int(off):].startswith(f"{i} 0 obj".encode())
    assert raw.count(b"/Type /Page ") == 1 and raw.rstrip().endswith(b"%%EOF")
    assert b"/BaseFont /Helvetica" in raw and b"/FontFile" not in raw  # standard font, nothing embedded


def test_a_page_takes_milliseconds(cohort):
    """PDF and HTML figures of a page in well under 100 ms (a matplotlib page took about 250 ms)."""
    data = patient_report_data(cohort, "P001")
    page_module._page(data).pdf_bytes()
    t0 = time.perf_counter()
    for _ in range(20):
        page = page_module._page(data)
        page.pdf_bytes()
        page.slot_images()
    assert (time.perf_counter() - t0) / 20 < 0.1


def test_clean_patient_has_no_stop_box(cohort, tmp_path):
    html = render_patient_html(patient_report_data(cohort, "P003"), tmp_path / "c.html").read_text("utf-8")
    assert "STOP AND CONSULT" not in html and "No active stop-and-consult flag" in html


def test_pdf_is_one_a4_page_with_the_stop_box_first(cohort, tmp_path):
    path = render_patient_pdf(patient_report_data(cohort, "P001"), tmp_path / "P001.pdf")
    raw = path.read_bytes()
    assert raw.startswith(b"%PDF") and b"/Count 1" in raw
    assert re.search(rb"/MediaBox \[\s*0 0 595\.4\d* 841\.6\d*\s*\]", raw)
    text = _pdf_text(path)
    assert "patient P001" in text and "STOP AND CONSULT" in text and "Session flare" in text
    assert "Farrar et al. 2001" in text  # definitions carry their sources


def test_next_page_keeps_nothing_of_the_previous_patient(cohort, tmp_path):
    """Only the cohort's footer is kept between pages in a process: nothing of P001 may survive."""
    render_patient_pdf(patient_report_data(cohort, "P001"), tmp_path / "first.pdf")
    render_patient_html(patient_report_data(cohort, "P001"), tmp_path / "first.html")
    pdf = _pdf_text(render_patient_pdf(patient_report_data(cohort, "P002"), tmp_path / "P002.pdf"))
    html = render_patient_html(patient_report_data(cohort, "P002"), tmp_path / "P002.html").read_text("utf-8")
    for text in (pdf, html):
        assert "P002" in text
        assert "P001" not in text and "worse after" not in text and "P003" not in text
    strings = " ".join(page_module._page(patient_report_data(cohort, "P002")).texts())
    assert "P002" in strings and "P001" not in strings
    kept = " ".join(str(item) for items in page_module._FOOTERS.values() for item in items)
    assert "Farrar" in kept and not re.search(r"P00\d", kept)


@pytest.mark.parametrize("red_flag", [False, True])
def test_without_sessions_one_sentence_replaces_the_session_panels(tmp_path, red_flag):
    assessments = VALID["assessments"].replace(",8,55,3,false,false,false", ",8,55,3,true,false,false")
    cohort = Cohort.from_folder(write_dataset(tmp_path / "nos", {
        "sessions": None, "prescriptions": None, "assessments": assessments if red_flag else VALID["assessments"]}))
    data = patient_report_data(cohort, "P001")
    assert not data["has_sessions"] and data["sessions"] is None
    assert bool(data["flags"]) is red_flag
    html = render_patient_html(data, tmp_path / "n.html").read_text("utf-8")
    assert html.count(data["no_sessions_text"]) == 1
    assert html.count("data:image/svg+xml") == 2  # the outcomes only
    caveat = "severe pain, session flares and disengagement are not known"
    assert caveat in html  # no flag from sessions does not mean none happened
    pdf = _pdf_text(render_patient_pdf(data, tmp_path / "n.pdf"))
    assert pdf.count("No sessions export was provided") == 1
    assert "Only red flags and sustained worsening could be checked" in pdf


def test_pdf_prints_any_note_literally(tmp_path):
    """Notes outside Windows-1252 fall back to an embedded font; "$...$" is not parsed as maths."""
    sessions = _sessions_with([], {"X3": "paid $5 and $6", "X2": "ból łydki"})  # X3 flared: stop box
    cohort = Cohort.from_folder(write_dataset(tmp_path / "u", {"sessions": sessions}))
    path = render_patient_pdf(patient_report_data(cohort, "P001"), tmp_path / "u.pdf")
    assert b"DejaVuSans" in path.read_bytes()  # the font of the Polish note, embedded
    assert "paid $5 and $6" in _pdf_text(path)  # drawn as typed, not as mathtext
    texts = page_module._page(patient_report_data(cohort, "P001")).texts()
    assert any("ból łydki" in t for t in texts)
    # the Polish line is drawn with the embedded font: glyph ids, with a ToUnicode map for copy and search
    raw = path.read_bytes()
    assert b"/Subtype /Type0" in raw and b"/ToUnicode" in raw and b"/FontFile2" in raw


# ---------------------------------------------------------------- files


def test_write_reports_files_index_and_order(busy_cohort, tmp_path, capsys):
    out = tmp_path / "out"
    result = write_patient_reports(busy_cohort, out, progress=False)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["index.csv", "index.html", "patient-P001.html", "patient-P001.pdf", "patient-P002.html", "patient-P002.pdf",
                     "patient-P003.html", "patient-P003.pdf"]
    assert result["n"] == 3 and result["index"] == out.resolve() / "index.html"
    index = (out / "index.html").read_text("utf-8")
    rows = re.findall(r"<td><a href=\"patient-(P\d+)\.html\">P", index)
    assert rows == ["P001", "P002", "P003"]  # red flag first, then an active disengagement, then none
    assert "Red flag" in index and "sessions after a red flag (" in index
    csv = (out / "index.csv").read_text("utf-8").splitlines()
    assert csv[0] == ("patient_id,schedule,status,last_data_on,active_flags,resolved_flags,red_flags,"
                      "sessions_after_red_flag,baseline,latest,latest_change,expected,band80_lower,band80_upper,"
                      "band_time")
    assert [line.split(",")[0] for line in csv[1:]] == ["P001", "P002", "P003"]
    assert csv[1].split(",")[11] == "no_band"  # 3 patients: too few for an expected range
    assert capsys.readouterr().err == ""


def test_write_reports_in_two_processes_with_progress(cohort, tmp_path, capsys, monkeypatch):
    from outcomes.reports import patient as rp

    assert write_patient_reports(cohort, tmp_path / "few", patient_ids=["P001"], jobs=2)["jobs"] == 1  # no workers
    monkeypatch.setattr(rp, "_PROCESS_MIN_PATIENTS", 0)  # two patients drawn by worker processes
    out = tmp_path / "par"
    assert write_patient_reports(cohort, out, patient_ids=["P002", "P001"], jobs=2, progress=True)["jobs"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["index.csv", "index.html", "patient-P001.html", "patient-P001.pdf",
                                                     "patient-P002.html", "patient-P002.pdf"]
    html = (out / "patient-P002.html").read_text("utf-8")
    assert "P002-secret-note" in html and "worse after" not in html
    # a worker builds the page from its chunk of rows: the same bytes as drawn here from the whole cohort
    here = render_patient_pdf(patient_report_data(cohort, "P002"), tmp_path / "here.pdf").read_bytes()
    assert (out / "patient-P002.pdf").read_bytes() == here
    assert "\rpatient reports: 2/2" in capsys.readouterr().err


def test_a_worker_chunk_builds_the_same_page_data(busy_cohort):
    """Workers get a few patients' rows, not the cohort, and must build exactly the parent's page data."""
    import pickle

    from outcomes.reports import patient as rp

    src = rp._Sources(busy_cohort)
    chunk = pickle.loads(pickle.dumps(src.chunk(["P003", "P001"])))
    assert len(chunk.cohort.patient_summary) == 2 and "P002" not in set(chunk.cohort.assessments["patient_id"])
    for pid in ("P001", "P003"):
        full, part = rp._report_data(src, pid), rp._report_data(chunk, pid)
        assert part.keys() == full.keys()
        for key in full:
            if isinstance(full[key], pd.DataFrame) or full[key] is None or key == "expected":
                continue
            assert part[key] == full[key], key
        pd.testing.assert_frame_equal(part["assessments"], full["assessments"])
        pd.testing.assert_frame_equal(part["sessions"], full["sessions"])
        assert part["index"] == full["index"] and rp._index_row(part) == rp._index_row(full)


def test_background_writer_writes_every_file_and_raises_a_failure(tmp_path):
    from outcomes.reports._patient_batch import _Writer

    with _Writer(most=2) as writer:
        for i in range(7):
            writer.write(tmp_path / f"f{i}.txt", b"x" * i)
    assert sorted((p.name, p.stat().st_size) for p in tmp_path.iterdir()) == [(f"f{i}.txt", i) for i in range(7)]
    with pytest.raises(FileNotFoundError):
        with _Writer() as writer:
            writer.write(tmp_path / "missing-folder" / "f.txt", b"x")


def test_progress_is_silent_when_stderr_is_not_a_terminal(cohort, tmp_path, capsys):
    write_patient_reports(cohort, tmp_path / "q", patient_ids=["P003"])
    assert capsys.readouterr().err == ""


def test_file_names_come_only_from_safe_codes(cohort, tmp_path):
    cohort.patient_summary.loc[0, "patient_id"] = "../escape"
    with pytest.raises(ValueError, match="unsafe output file name"):
        write_patient_reports(cohort, tmp_path / "bad", patient_ids=["../escape"])
    assert not (tmp_path / "escape.pdf").exists()
    assert not list((tmp_path / "bad").iterdir())



def test_a_patient_coded_index_keeps_its_report(tmp_path):
    texts = {name: text.replace("P001", "index") for name, text in VALID.items()}
    cohort = Cohort.from_folder(write_dataset(tmp_path / "data", texts))
    out = tmp_path / "idx"
    write_patient_reports(cohort, out, progress=False)
    assert (out / "patient-index.html").exists() and (out / "patient-index.pdf").exists()
    assert 'href="patient-index.html"' in (out / "index.html").read_text("utf-8")


def test_expected_band_axes_to_program_length_and_readable_footer(tmp_path):
    from outcomes.simulate import simulate

    cohort = Cohort.from_frames(**simulate(60, seed=4).frames())
    ids = list(cohort.patient_summary["patient_id"][:3])
    datas = [patient_report_data(cohort, p) for p in ids]
    assert {d["x_max"] for d in datas} == {12.0}  # every patient's axes run 0..program length
    d = datas[0]
    assert d["expected"]["available"] and d["expected"]["status"] in ("ahead", "on_track", "behind", "no_band")
    assert "80 % of patients like this one" in d["expected"]["text"]
    render_patient_pdf(d, tmp_path / "a.pdf")
    page = page_module._page(d)
    bands = [it for it in page.canvas.items if it[0] == "path" and it[1] == "primary" and it[4] == "#999999"]
    assert [it[8] for it in bands] == [0.22, 0.35]  # the 80 % and 50 % bands, light then dark
    assert page.panels["primary"]["xticks"][-1] == 12.0 and page.panels["calendar"]["xticks"][-1] == 12.0
    footer = [it for it in page.canvas.items if it[0] == "text" and it[1] == "footer"]
    assert footer and min(it[5] for it in footer) >= 7
    cal = page.texts(["calendar"])
    assert cal[0] == "Adherence: glide sessions per day" and page.keys["calendar"] == ["0 sessions", "1", "2 or more"]
    assert cal[cal.index("Mon"):cal.index("Mon") + 7] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    html = render_patient_html(d, tmp_path / "a.html").read_text("utf-8")
    assert "Latest change" in html and "MIC (minimal important change)" in html and "reliable change" in html
