"""Published data for the GraphQL tests, written through the service layer."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tests.factories import hanoi, publish, unit

AGENCY_1 = "000.00.00.G01"
AGENCY_2 = "000.00.01.G01"
AGENCY_3 = "000.00.02.G01"


def agencies_and_procedures(session: Session) -> int:
    """Agencies of Hà Nội and two procedures that refer to them; needs :func:`hanoi`."""
    publish(session, [
        {"op": "create", "list": "agencies", "code": AGENCY_1, "name": "Bộ Công an",
         "type": "Bộ", "attributes": {"website": "https://bocongan.gov.vn"}},
        {"op": "create", "list": "agencies", "code": AGENCY_2, "name": "Cục Cảnh sát giao thông",
         "type": "Đơn vị cấp 2", "attributes": {"admin_unit": "01", "email": "csgt@bca.gov.vn"}},
        {"op": "create", "list": "agencies", "code": AGENCY_3, "name": "Cục Quản lý xuất nhập cảnh",
         "type": "Đơn vị cấp 2", "attributes": {"admin_unit": "01"}},
    ], title="agencies")
    return publish(session, [
        {"op": "create", "list": "procedures", "code": "1.000001",
         "name": "Cấp giấy phép lái xe", "type": "Thủ tục hành chính",
         "attributes": {"field_code": "GT", "levels": ["province"],
                        "implementing_agencies": [AGENCY_2, AGENCY_3],
                        "competent_agency": AGENCY_1, "online_level": "full"}},
        {"op": "create", "list": "procedures", "code": "1.000002",
         "name": "Cấp hộ chiếu phổ thông", "type": "Thủ tục hành chính",
         "attributes": {"field_code": "XNC", "levels": ["central", "province"],
                        "implementing_agencies": [AGENCY_3]}},
    ], title="procedures")


def merge_wards(session: Session) -> int:
    """On 2025-07-01, 00004 and 00013 merge into 00004 "Phường Ba Đình" under 01."""
    return publish(session, [
        {"op": "merge", "list": "admin-units", "sources": ["00004", "00013"],
         "target": {"code": "00004", "name": "Phường Ba Đình", "type": "Phường",
                    "parent": "001"}},
    ], effective="2025-07-01", title="merge wards")


def world(session: Session) -> dict[str, Any]:
    """Hà Nội, agencies and procedures, then the merge: releases 2, 3, 4 and 5."""
    releases = {"hanoi": hanoi(session)}
    releases["procedures"] = agencies_and_procedures(session)
    releases["merge"] = merge_wards(session)
    return releases


def communes(session: Session, count: int, province: str = "79") -> int:
    """A province with ``count`` communes under it; each hands a part to the next one, so
    that every commune has a successor link."""
    codes = [f"{province}{i:03d}" for i in range(count)]
    publish(session, [unit(province, f"Tỉnh Thử {province}", "Tỉnh"),
                      *[unit(c, f"Xã Số {i}", "Xã", province) for i, c in enumerate(codes)]],
            title=f"{count} communes")
    return publish(session, [
        {"op": "transfer", "list": "admin-units", "from": c, "to": codes[(i + 1) % count],
         "share": 0.1} for i, c in enumerate(codes)], effective="2025-03-01", title="transfers")
