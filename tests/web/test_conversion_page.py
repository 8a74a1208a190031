"""The conversion page in a real browser: a clerk uploads a file, reads the summary and
downloads the result; a file without the column gets a clear answer; nothing is kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.web.conftest import Live
from tests.web.test_conversion_http import CODES, reformed, rows_of, written


def _files(name: str, data: bytes) -> list[dict[str, Any]]:
    return [{"name": name, "mimeType": "text/csv", "buffer": data}]


def test_a_clerk_converts_a_file_of_codes(own_live: Callable[..., Live],
                                          new_page: Callable[..., Any],
                                          tmp_path: Path) -> None:
    live = reformed(own_live)
    before = written(live)
    page = new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    page.goto(f"{live.url}/")
    page.get_by_role("link", name="Chuyển đổi mã, địa chỉ").click()
    page.wait_for_url(f"{live.url}/convert")
    page.set_input_files("#f-file", files=_files("don_vi.csv", CODES.encode()))
    # The file's columns come back as a list, the code column chosen.
    page.wait_for_selector("select#f-column")
    assert page.input_value("#f-column") == "ma_xa"
    page.fill("#f-to_date", "2025-08-01")
    page.click("#convert-btn")
    page.wait_for_selector("#result")
    counts = {item.get_attribute("data-status"): item.inner_text().split()[-1]
              for item in page.query_selector_all("#result-counts li")}
    assert counts == {"exact": "2", "matched": "0", "ambiguous": "2", "not_found": "2"}
    assert page.inner_text("#result-release") == (
        f"6 dòng, tính theo bản phát hành {before[3]}: mỗi đơn vị như trước lần thay đổi gần "
        "nhất của nó, sang đơn vị ngày 01/08/2025.")
    person = [[cell.inner_text() for cell in row.query_selector_all("td")]
              for row in page.query_selector_all("#person-rows tbody tr")]
    assert [(r[0], r[1], r[2]) for r in person] == [
        ("3", "00004", "cần chọn"), ("4", "00037", "cần chọn"), ("5", "00007", "không tìm thấy"),
        ("6", "99999", "không tìm thấy")]
    assert person[1][4] == "00038 Phường Hoàn Kiếm*; 00039 Phường Cửa Nam Mới"

    with page.expect_download() as info:
        page.click("#download-result")
    download = info.value
    assert download.suggested_filename == "don_vi.converted.csv"
    saved = tmp_path / "result.csv"
    download.save_as(saved)
    rows = rows_of(saved.read_bytes())
    assert rows[0][:3] == ["stt", "ma_xa", "ghi_chu"]
    assert [(r[1], r[3], r[5], r[9], r[-1]) for r in rows[1:]] == [
        ("00013", "00013", "00004", "exact", str(before[3])),
        ("00004", "00004", "00004", "ambiguous", str(before[3])),
        ("00037", "00037", "00038", "ambiguous", str(before[3])),
        ("00007", "00007", "", "not_found", str(before[3])),
        ("99999", "", "", "not_found", str(before[3])),
        ("13", "00013", "00004", "exact", str(before[3]))]
    assert hosts == {live.url.split("/")[2]}  # every asset from the registry itself
    assert written(live) == before


def test_a_file_without_the_column_in_english(own_live: Callable[..., Live],
                                              new_page: Callable[..., Any]) -> None:
    live = reformed(own_live)
    before = written(live)
    page = new_page()
    page.goto(f"{live.url}/convert?lang=en")
    page.fill("#f-column", "ma_xa")
    page.set_input_files("#f-file", files=_files("list.csv", b"stt;ten\n1;a\n"))
    page.wait_for_selector("#column-error")
    assert page.inner_text("#column-error") == (
        "The file has no column “ma_xa”. Its columns are: “stt”, “ten”.")
    page.click("#convert-btn")
    page.wait_for_selector("#convert-error")
    assert page.inner_text("#convert-error") == (
        "Choose the column that holds the codes. The file's columns are: “stt”, “ten”.")
    assert page.locator("html").get_attribute("lang") == "en"
    assert written(live) == before


def test_without_javascript(own_live: Callable[..., Live], browser: Any,
                            tmp_path: Path) -> None:
    live = reformed(own_live)
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    try:
        page = context.new_page()
        page.goto(f"{live.url}/convert?lang=en")
        page.fill("#f-column", "ma xa")
        page.set_input_files("#f-file", files=_files("list.csv", b"stt;ten\n1;a\n"))
        page.click("#convert-btn")
        assert page.inner_text("#convert-error") == (
            "The file has no column “ma xa”. Its columns are: “stt”, “ten”.")
        # The result straight as a file: the button that needs no script.
        page.fill("#f-column", "ma_xa")
        page.fill("#f-to_date", "2025-08-01")
        page.set_input_files("#f-file", files=_files("don_vi.csv", CODES.encode()))
        with page.expect_download() as info:
            page.click("#convert-csv-btn")
        saved = tmp_path / "direct.csv"
        info.value.save_as(saved)
        assert info.value.suggested_filename == "don_vi.converted.csv"
        assert [r[9] for r in rows_of(saved.read_bytes())[1:]] == [
            "exact", "ambiguous", "ambiguous", "not_found", "not_found", "exact"]
    finally:
        context.close()
