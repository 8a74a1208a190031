"""Reading GSO files: both layouts, every encoding, spreadsheets, and every bad-row kind."""

from __future__ import annotations

import unicodedata

import pytest

from registry.errors import ValidationError
from registry.importers.gso import parse_table, short_name
from registry.importers.tabular import read_table
from tests.importers.gso_files import COMMUNES, DISTRICTS, csv_text, encode, xlsx_bytes

HANOI = csv_text(
    DISTRICTS,
    "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Phúc Xá,00001,Phường,Phuc Xa Ward",
    "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Trúc Bạch,00004,Phường,",
    "Thành phố Hà Nội,01,Huyện Sóc Sơn,016,Thị trấn Sóc Sơn,00376,Thị trấn,",
    "Thành phố Hải Phòng,31,Huyện Bạch Long Vĩ,318,,,Huyện,",
    "Tỉnh Lai Châu,12,Thị xã Mường Lay,999,Xã Lay Nưa,99999,Xã,",
)


def parse(text: str, encoding: str = "utf-8") -> object:
    return parse_table(read_table(encode(text, encoding), "file.csv"))


def test_the_layout_with_districts_gives_every_level_with_its_type() -> None:
    parsed = parse_table(read_table(HANOI.encode(), "file.csv"))
    assert parsed.layout == "districts"
    assert parsed.bad == []
    units = parsed.units
    assert (units["01"].type, units["01"].level, units["01"].parent) == \
        ("Thành phố Trung ương", "province", None)
    assert (units["12"].type, units["31"].type) == ("Tỉnh", "Thành phố Trung ương")
    assert (units["001"].type, units["001"].parent) == ("Quận", "01")
    assert (units["016"].type, units["999"].type) == ("Huyện", "Thị xã")
    assert (units["00001"].type, units["00001"].parent, units["00001"].name_en) == \
        ("Phường", "001", "Phuc Xa Ward")
    assert units["00376"].type == "Thị trấn"
    # A district without communes has its own row, typed by Cấp.
    assert (units["318"].type, units["318"].parent) == ("Huyện", "31")
    assert parsed.counts() == {"province": 3, "district": 4, "commune": 4}
    assert list(units)[:3] == ["01", "12", "31"]  # provinces first, then districts, communes


def test_the_layout_without_districts_puts_communes_under_provinces() -> None:
    parsed = parse_table(read_table(csv_text(
        COMMUNES,
        "Thành phố Hà Nội,01,Phường Ba Đình,00004,Phường,",
        "Thành phố Hải Phòng,31,Đặc khu Bạch Long Vĩ,11948,Đặc khu,",
    ).encode(), "post.csv"))
    assert parsed.layout == "communes"
    assert parsed.bad == []
    assert (parsed.units["00004"].parent, parsed.units["11948"].type) == ("01", "Đặc khu")
    assert parsed.counts() == {"province": 2, "commune": 2}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-bom", "utf-16", "cp1258", "nfd"])
def test_every_encoding_reads_the_same_nfc_units(encoding: str) -> None:
    expected = parse_table(read_table(HANOI.encode(), "file.csv")).units
    data = encode(HANOI, encoding)
    assert (data != HANOI.encode()) == (encoding != "utf-8")  # the bytes really differ
    parsed = parse_table(read_table(data, "file.csv"))
    assert parsed.bad == []
    assert parsed.units == expected
    for unit in parsed.units.values():
        assert unicodedata.is_normalized("NFC", unit.name)


def test_an_nfd_header_is_still_the_gso_header() -> None:
    parsed = parse_table(read_table(unicodedata.normalize("NFD", HANOI).encode(), "f.csv"))
    assert parsed.layout == "districts"


def test_codes_a_spreadsheet_stored_as_numbers_get_their_leading_zeros() -> None:
    data = xlsx_bytes([
        list(DISTRICTS.split(",")),
        ["Thành phố Hà Nội", 1, "Quận Ba Đình", 1, "Phường Phúc Xá", 1, "Phường"],
        ["Thành phố Hà Nội", 1.0, "Quận Ba Đình", 1.0, "Phường Trúc Bạch", 4.0, "Phường", None],
    ])
    parsed = parse_table(read_table(data, "file.xlsx"))
    assert parsed.bad == []
    assert sorted(parsed.units) == ["00001", "00004", "001", "01"]
    assert parsed.units["00004"].parent == "001"


def test_codes_a_csv_lost_the_zeros_of_are_padded_by_column() -> None:
    parsed = parse_table(read_table(csv_text(
        DISTRICTS, "Thành phố Hà Nội,1,Quận Ba Đình,1,Phường Phúc Xá,1,Phường,").encode(),
        "f.csv"))
    assert parsed.bad == []
    assert sorted(parsed.units) == ["00001", "001", "01"]


def test_semicolon_separated_csv_from_a_vietnamese_excel_is_read() -> None:
    text = HANOI.replace(",", ";")
    parsed = parse_table(read_table(text.encode(), "f.csv"))
    assert parsed.bad == []
    assert len(parsed.units) == 11


GOOD = "Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Phúc Xá,00001,Phường,"


@pytest.mark.parametrize(("row", "rule", "words"), [
    ("Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Cống Vị,00007,Phường", "columns",
     "7 columns"),
    ("Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Cống Vị,00007,Phường,,extra", "columns",
     "9 columns"),
    (",01,Quận Ba Đình,001,Phường Cống Vị,00007,Phường,", "required", "Tỉnh Thành Phố"),
    ("Thành phố Hà Nội,01,Quận Ba Đình,001,,00007,Phường,", "required", "Phường Xã"),
    ("Thành phố Hà Nội,01,Quận Ba Đình,,Phường Cống Vị,00007,Phường,", "required", "Mã QH"),
    ("Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Cống Vị,0007A,Phường,", "code", "0007A"),
    ("Thành phố Hà Nội,001,Quận Ba Đình,001,Phường Cống Vị,00007,Phường,", "code",
     "more than 2 digits"),
    ("Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Cống Vị,00007,Khu phố,", "type", "Khu phố"),
    ("Thành phố Hà Nội,01,Quận Ba Đình,001,Phường Cống Vị,00007,,", "type", "empty"),
    ("Thành phố Hà Nội,01,Ba Đình,001,Phường Cống Vị,00007,Phường,", "district_type",
     "Ba Đình"),
    ("Thành phố Hải Phòng,31,Huyện Bạch Long Vĩ,318,,,Quận,", "type", "contradicts"),
    ("Thành phố Hà Nội,01,,,,,Phường,", "required", "province alone"),
    (GOOD, "duplicate", "line 2"),
    ("Thủ đô Hà Nội,01,Quận Ba Đình,001,Phường Cống Vị,00007,Phường,", "conflict",
     "'Thành phố Hà Nội' on line 2"),
    ("Thành phố Hà Nội,01,Quận Ba Đình Mới,001,Phường Cống Vị,00007,Phường,", "conflict",
     "named"),
    ("Tỉnh Hà Giang,02,Quận Ba Đình,001,Phường Cống Vị,00007,Phường,", "conflict",
     "under 02 here but under 01 on line 2"),
])
def test_each_bad_row_is_reported_with_its_line_and_reason(row: str, rule: str,
                                                           words: str) -> None:
    text = csv_text(DISTRICTS, GOOD, row, "Thành phố Hà Nội,01,Quận Ba Đình,001,"
                    "Phường Trúc Bạch,00004,Phường,")
    parsed = parse_table(read_table(text.encode(), "bad.csv"))
    assert [(b.line, b.rule) for b in parsed.bad] == [(3, rule)]
    assert words in parsed.bad[0].reason
    assert "00004" in parsed.units  # the good rows around it are read


def test_a_bad_row_contributes_no_unit_at_all() -> None:
    text = csv_text(DISTRICTS, GOOD,
                    "Tỉnh Hà Giang,02,Huyện Đồng Văn,026,Xã Lũng Cú,00712,Làng,")
    parsed = parse_table(read_table(text.encode(), "bad.csv"))
    assert parsed.bad[0].rule == "type"
    assert not {"02", "026", "00712"} & set(parsed.units)
    assert parsed.bad[0].codes == ("02", "026", "00712")


def test_lines_count_physical_lines_past_blank_ones() -> None:
    text = DISTRICTS + "\n" + GOOD + "\n\n\n" + GOOD.replace("00001", "0000X") + "\n"
    parsed = parse_table(read_table(text.encode(), "bad.csv"))
    assert [b.line for b in parsed.bad] == [5]


def test_a_header_that_is_not_the_gso_header_is_refused_naming_both() -> None:
    text = csv_text("Tỉnh,Mã TP,Huyện,Mã QH,Xã,Mã PX,Cấp,Tên Tiếng Anh", GOOD)
    with pytest.raises(ValidationError) as caught:
        parse_table(read_table(text.encode(), "wrong.csv"))
    assert caught.value.field == "wrong.csv:1"
    assert caught.value.rule == "header"
    assert DISTRICTS in caught.value.detail and COMMUNES in caught.value.detail


def test_bytes_in_no_supported_encoding_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        read_table(DISTRICTS.encode("utf-16-le"), "x.csv")  # UTF-16 without its BOM
    assert caught.value.rule == "encoding"


def test_a_broken_workbook_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        read_table(b"PK\x03\x04 not really a zip", "x.xlsx")
    assert caught.value.rule == "xlsx"


@pytest.mark.parametrize(("name", "short"), [
    ("Phường Phúc Xá", "Phúc Xá"), ("Thành phố Hà Nội", "Hà Nội"), ("Thị xã Sơn Tây", "Sơn Tây"),
    ("Thị trấn Sóc Sơn", "Sóc Sơn"), ("Đặc khu Côn Đảo", "Côn Đảo"), ("Phường 5", "Phường 5"),
    ("Tỉnh Bà Rịa - Vũng Tàu", "Bà Rịa - Vũng Tàu"),
])
def test_short_names_drop_the_type_but_keep_numbers(name: str, short: str) -> None:
    assert short_name(name) == short
