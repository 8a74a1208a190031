"""Procedures: an ILLUSTRATIVE sample, marked as such in the list's name and the change set's
title (no licensed copy of the national procedure database is available here)."""

from __future__ import annotations

from typing import Any

from datasets.common import REFORM_DATE

PROCEDURES = "procedures"

# An ILLUSTRATIVE sample of procedures. The codes 1.999001-1.999020 are deliberately
# outside the range of the national database, and the field codes other than G03-GD10
# (the reference's example) are made up in the same format. Names are typical procedure
# names; levels, agencies and online levels are plausible, not taken from the database.
LB_63_2010 = {"number": "63/2010/NĐ-CP", "date": "2010-06-08", "issuer": "Chính phủ"}
PROCEDURES_SAMPLE = [
    # (name, field code, field name, levels, implementing ministries, online level)
    ("Cấp hộ chiếu phổ thông ở trong nước", "G01-XN01", "Quản lý xuất nhập cảnh",
     ["central", "province"], ["G01"], "full"),
    ("Cấp thị thực cho người nước ngoài tại Việt Nam", "G01-XN01", "Quản lý xuất nhập cảnh",
     ["central"], ["G01"], "full"),
    ("Cấp Giấy chứng nhận xuất xứ hàng hóa ưu đãi", "G02-XK01", "Xuất nhập khẩu",
     ["central"], ["G02"], "full"),
    ("Công nhận văn bằng do cơ sở giáo dục nước ngoài cấp", "G03-VB01",
     "Hệ thống văn bằng, chứng chỉ", ["central"], ["G03"], "full"),
    ("Chuyển trường đối với học sinh trung học phổ thông", "G03-GD10", "Giáo dục Trung học",
     ["province"], [], "partial"),
    ("Đăng ký sáng chế", "G06-SH01", "Sở hữu trí tuệ", ["central"], ["G06"], "full"),
    ("Đăng ký nhãn hiệu", "G06-SH01", "Sở hữu trí tuệ", ["central"], ["G06"], "full"),
    ("Hợp pháp hóa lãnh sự giấy tờ, tài liệu tại Bộ Ngoại giao", "G08-LS01", "Lãnh sự",
     ["central"], ["G08"], "partial"),
    ("Chứng nhận lãnh sự giấy tờ, tài liệu tại Bộ Ngoại giao", "G08-LS01", "Lãnh sự",
     ["central"], ["G08"], "partial"),
    ("Tặng Huân chương Lao động", "G09-TD01", "Thi đua, khen thưởng",
     ["central"], ["G09", "G22"], "none"),
    ("Cấp giấy phép khai thác khoáng sản", "G10-KS01", "Địa chất và khoáng sản",
     ["central", "province"], ["G10"], "partial"),
    ("Đăng ký thuế lần đầu đối với tổ chức", "G12-TH01", "Thuế",
     ["central", "province"], ["G12"], "full"),
    ("Đăng ký thành lập doanh nghiệp tư nhân", "G12-DN01", "Thành lập và hoạt động doanh nghiệp",
     ["province"], [], "full"),
    ("Cấp Phiếu lý lịch tư pháp", "G15-LL01", "Lý lịch tư pháp",
     ["central", "province"], ["G15"], "full"),
    ("Đăng ký khai sinh", "G15-HT01", "Hộ tịch", ["commune"], [], "full"),
    ("Cấp giấy phép kinh doanh dịch vụ lữ hành quốc tế", "G16-DL01", "Du lịch",
     ["central"], ["G16"], "full"),
    ("Cấp chứng chỉ năng lực hoạt động xây dựng hạng I", "G17-XD01", "Hoạt động xây dựng",
     ["central"], ["G17"], "full"),
    ("Cấp giấy phép hành nghề khám bệnh, chữa bệnh", "G18-KB01", "Khám bệnh, chữa bệnh",
     ["central", "province"], ["G18"], "partial"),
    ("Cấp giấy phép thành lập ngân hàng thương mại", "G19-NH01", "Thành lập và hoạt động ngân hàng",
     ["central"], ["G19"], "none"),
    ("Công nhận tổ chức tôn giáo", "G21-TG01", "Tôn giáo", ["central"], ["G21"], "none"),
]

def changeset() -> dict[str, Any]:
    ops = []
    for i, (name, field_code, field_name, levels, agencies, online) in enumerate(
            PROCEDURES_SAMPLE, start=1):
        attributes: dict[str, Any] = {"field_code": field_code, "field_name": field_name,
                                      "levels": levels, "online_level": online}
        if agencies:
            attributes["implementing_agencies"] = [f"000.00.00.{g}" for g in agencies]
            attributes["competent_agency"] = f"000.00.00.{agencies[0]}"
        ops.append({"op": "create", "list": PROCEDURES, "code": f"1.{999000 + i:06d}",
                    "name": name, "type": "Thủ tục hành chính", "attributes": attributes})
    return {
        "title": "Mẫu minh họa (illustrative sample): 20 thủ tục hành chính; mã 1.999001–1.999020 "
                 "và mã lĩnh vực (trừ G03-GD10) không phải của Cơ sở dữ liệu quốc gia về thủ "
                 "tục hành chính",
        "legal_basis": LB_63_2010,
        "effective_date": REFORM_DATE,
        "operations": ops,
    }


