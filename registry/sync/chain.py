"""Checking change records before anything is applied (DESIGN §9.3, §9.7).

A change page is refused unless it is the page that was asked for (epoch, page, size,
first seq), its records are gapless, their chain continues this replica's cursor and hash,
and it arrives at the hash the page's header names; its bytes must match its digest. The
same :func:`chain_records` checks records that reach a replica any other way (a broker's
messages), so every path refuses exactly the same faults.
"""

from __future__ import annotations

from typing import Any

from registry.errors import FeedIntegrityError
from registry.services.feed import canonical_json, chain_hash
from registry.sync.codec import decode_canonical, decode_records
from registry.sync.errors import SyncError
from registry.sync.protocol import PREFIX
from registry.sync.results import RemoteHead
from registry.sync.transport import Transport


def chain_records(records: list[dict[str, Any]], prev: str, first: int, staged_seq: int,
                  staged_hash: str, where: str, texts: list[bytes] | None = None) -> list[str]:
    """The chain hash after each of ``records``, which must be seqs ``first, first+1, …``
    following ``prev`` (the hash at ``first - 1``). ``texts``: the records' canonical
    texts as they came, hashed as they are (else each record's is rebuilt).

    Refused: a chain that starts right after this replica's cursor (``staged_seq``) from
    another hash than the replica's (a fork), a missing seq (a gap), and a record at the
    cursor that hashes differently from what the replica applied there.
    """
    if first - 1 == staged_seq and prev != staged_hash:
        raise FeedIntegrityError(
            f"{where}: the page does not continue this replica's chain at seq {staged_seq} "
            f"(the centre says {prev[:16]}…, this replica has {staged_hash[:16]}…): a "
            "fork; nothing was applied")
    digest = prev
    hashes: list[str] = []
    expected = first
    for index, record in enumerate(records):
        seq = record.get("seq")
        if seq != expected:
            raise FeedIntegrityError(
                f"{where}: seq {expected} is missing (the page goes on with seq {seq}): a "
                "gap is refused; nothing was applied")
        digest = chain_hash(digest, texts[index] if texts is not None
                            else canonical_json(record))
        hashes.append(digest)
        if seq == staged_seq and digest != staged_hash:
            raise FeedIntegrityError(
                f"{where}: seq {seq} hashes to {digest[:16]}… but this replica applied "
                f"{staged_hash[:16]}… there: the feed forked; nothing was applied")
        expected += 1
    return hashes


def verify_page(transport: Transport, header: dict[str, Any], body: bytes, where: str,
                head: RemoteHead, page: int, size: int, staged_seq: int, staged_hash: str,
                after: int | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a change page and the chain hash after each, once the page has been
    checked against what was asked for and against this replica's cursor."""
    first = page * size + 1 if after is None else after + 1
    if (header.get("t") != "page" or header.get("epoch") != head.epoch
            or header.get("page") != page or header.get("size") != size
            or header.get("first") != first):
        raise FeedIntegrityError(
            f"{where}: the answer is page {header.get('page')} of epoch "
            f"{header.get('epoch')} starting at seq {header.get('first')}, not page {page} "
            f"starting at seq {first}: a skipped or misplaced page is refused; nothing was "
            "applied")
    texts: list[bytes] | None = None
    if header.get("lines") == "canonical":
        records, texts = decode_canonical(header, body, where)
    else:
        records = list(decode_records(header, body, where))
    prev = str(header.get("prev"))
    hashes = chain_records(records, prev, first, staged_seq, staged_hash, where, texts)
    if records and (records[-1]["seq"] != header.get("last")):
        raise FeedIntegrityError(f"{where}: the page ends at seq {records[-1]['seq']}, its "
                                 f"header says {header.get('last')}; nothing was applied")
    digest = hashes[-1] if hashes else prev
    if digest != header.get("hash"):
        raise FeedIntegrityError(name_bad_seq(transport, head, page, size, records, hashes,
                                              where))
    return records, hashes


def name_bad_seq(transport: Transport, head: RemoteHead, page: int, size: int,
                 records: list[dict[str, Any]], hashes: list[str], where: str) -> str:
    """Find the first record that does not hash as the centre published it."""
    first = records[0]["seq"] if records else page * size + 1
    last = records[-1]["seq"] if records else first
    try:
        published = transport.get(f"{PREFIX}/hashes/{head.epoch}/{size}/{page}").json()["hashes"]
        by_seq = {int(seq): digest for seq, digest in published}
        for record, digest in zip(records, hashes, strict=True):
            if by_seq.get(record["seq"]) != digest:
                return (f"{where}: seq {record['seq']} does not match the hash the centre "
                        "published for it (the record was changed in transit or in a "
                        "cache); the page was refused and nothing was applied")
    except (SyncError, ValueError, KeyError, TypeError):
        pass
    return (f"{where}: the records of seqs {first}–{last} do not hash to the page's "
            f"published chain hash; the page was refused and nothing was applied")
