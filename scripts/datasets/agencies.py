"""Agencies: the ministries' level-1 codes (Decision 09/2025/QĐ-TTg) and two provincial
samples, closed when their provinces merged on 2025-07-01."""

from __future__ import annotations

from typing import Any

from datasets.common import BASELINE_DATE, LB_202, REFORM_DATE, check

AGENCIES = "agencies"

LB_09_2025 = {"number": "09/2025/QĐ-TTg", "date": "2025-04-14", "issuer": "Thủ tướng Chính phủ"}
# Level-1 codes of ministries and ministry-level agencies, Decision 09/2025/QĐ-TTg.
MINISTRIES = [
    ("G01", "Bộ Công an", "Bộ"),
    ("G02", "Bộ Công Thương", "Bộ"),
    ("G03", "Bộ Giáo dục và Đào tạo", "Bộ"),
    ("G06", "Bộ Khoa học và Công nghệ", "Bộ"),
    ("G08", "Bộ Ngoại giao", "Bộ"),
    ("G09", "Bộ Nội vụ", "Bộ"),
    ("G10", "Bộ Nông nghiệp và Môi trường", "Bộ"),
    ("G11", "Bộ Quốc phòng", "Bộ"),
    ("G12", "Bộ Tài chính", "Bộ"),
    ("G15", "Bộ Tư pháp", "Bộ"),
    ("G16", "Bộ Văn hóa, Thể thao và Du lịch", "Bộ"),
    ("G17", "Bộ Xây dựng", "Bộ"),
    ("G18", "Bộ Y tế", "Bộ"),
    ("G19", "Ngân hàng Nhà nước Việt Nam", "Cơ quan ngang bộ"),
    ("G20", "Thanh tra Chính phủ", "Cơ quan ngang bộ"),
    ("G21", "Bộ Dân tộc và Tôn giáo", "Bộ"),
    ("G22", "Văn phòng Chính phủ", "Cơ quan ngang bộ"),
]
# The only provincial codes the reference gives. Both provinces were merged into others
# on 2025-07-01, and the merged province keeps the level-1 code of the old province of the
# same name (Cần Thơ, Hưng Yên), so these two codes close on that date.
LB_20_2020 = {"number": "20/2020/QĐ-TTg", "date": "2020-07-22", "issuer": "Thủ tướng Chính phủ"}
PROVINCIAL_SAMPLES = [
    ("000.00.00.H30", "Ủy ban nhân dân tỉnh Hậu Giang", "UBND tỉnh", "93"),
    ("000.00.00.K54", "Hội đồng nhân dân tỉnh Thái Bình", "HĐND tỉnh", "34"),
]

def changesets() -> list[tuple[str, str, dict[str, Any]]]:
    """(slug, effective date, change set) for the agencies list."""
    ministries = {
        "title": "Mã định danh các bộ, cơ quan ngang bộ theo Quyết định 09/2025/QĐ-TTg "
                 "(17 mã cấp 1 G01–G22)",
        "legal_basis": LB_09_2025,
        "effective_date": LB_09_2025["date"],
        "operations": [
            {"op": "create", "list": AGENCIES, "code": f"000.00.00.{g}", "name": name,
             "type": type_, "attributes": {"code_decision": LB_09_2025["number"]}}
            for g, name, type_ in MINISTRIES],
    }
    samples = {
        "title": "Mẫu (sample): hai mã định danh cơ quan cấp tỉnh đã biết (H30, K54); ảnh chụp "
                 "trạng thái, không phải ngày cấp mã thực tế",
        "legal_basis": LB_20_2020,
        "effective_date": BASELINE_DATE,
        "operations": [
            {"op": "create", "list": AGENCIES, "code": code, "name": name, "type": type_,
             "attributes": {"admin_unit": unit}}
            for code, name, type_, unit in PROVINCIAL_SAMPLES],
    }
    retire = {
        "title": "Mẫu (sample): đóng mã H30, K54 khi tỉnh Hậu Giang, Thái Bình được sắp xếp "
                 "(Nghị quyết 202/2025/QH15)",
        "legal_basis": LB_202,
        "effective_date": REFORM_DATE,
        "operations": [{"op": "retire", "list": AGENCIES, "code": code}
                       for code, *_ in PROVINCIAL_SAMPLES],
    }
    return [("agencies-09-2025-ministries", LB_09_2025["date"], ministries),
            ("agencies-provincial-samples", BASELINE_DATE, samples),
            ("agencies-provincial-samples-retire", REFORM_DATE, retire)]



def check_result(active_codes: set[str]) -> None:
    """After the reform only the ministries remain: the two provincial samples closed."""
    expected = {f"000.00.00.{g}" for g, _n, _t in MINISTRIES}
    check(active_codes == expected, f"agencies after the reform: {sorted(active_codes)}")
