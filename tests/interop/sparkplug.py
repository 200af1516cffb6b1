"""Sparkplug B payloads through pysparkplug, for tests/sparkplug_codec.rs.

    python3 tests/interop/sparkplug.py fixtures
        JSON {name: hex} of payloads pysparkplug encodes (the committed fixtures in
        tests/fixtures/sparkplug/pysparkplug.json must be exactly these).
    python3 tests/interop/sparkplug.py decode KIND HEX [BIRTH_HEX]
        Decode a payload chocoline encoded (KIND: nbirth, ndata, dbirth, ddata, ndeath, ncmd);
        an NDATA or DDATA is decoded against its NBIRTH or DBIRTH (aliases). Prints JSON {timestamp, seq, metrics: [...]}.
"""

import json
import sys

import pysparkplug as psp
from pysparkplug import DataType, DBirth, DData, Metric, NBirth, NCmd, NData, NDeath

TS = 1_700_000_000_000


def fixtures() -> dict:
    birth = NBirth(timestamp=TS, seq=0, metrics=(
        Metric(timestamp=TS, name="bdSeq", datatype=DataType.INT64, value=3),
        Metric(timestamp=TS, name="Node Control/Rebirth", datatype=DataType.BOOLEAN, value=False),
        Metric(timestamp=TS, name="tempering/temperature", datatype=DataType.DOUBLE, value=31.5, alias=1),
        Metric(timestamp=TS, name="plc/offset", datatype=DataType.INT8, value=-5, alias=2),
        Metric(timestamp=TS, name="plc/batch_id", datatype=DataType.UINT32, value=4242, alias=3),
        Metric(timestamp=TS, name="plc/state", datatype=DataType.STRING, value="RUN", alias=4),
    ))
    data = NData(timestamp=TS + 1000, seq=1, metrics=(
        Metric(timestamp=TS + 1000, name=None, datatype=DataType.DOUBLE, value=31.75, alias=1),
        Metric(timestamp=TS + 1000, name=None, datatype=DataType.INT8, value=-6, alias=2),
    ))
    death = NDeath(timestamp=TS, bd_seq_metric=Metric(
        timestamp=TS, name="bdSeq", datatype=DataType.INT64, value=3))
    # What pysparkplug's Client sends as a rebirth request (no datatype: include_dtypes=False).
    rebirth = NCmd(timestamp=TS, metrics=(
        Metric(timestamp=TS, name="Node Control/Rebirth", datatype=DataType.BOOLEAN, value=True),
    )).encode(include_dtypes=False)
    return {
        "version": psp.__version__,
        "nbirth": birth.encode(include_dtypes=True).hex(),
        "ndata": data.encode(include_dtypes=False).hex(),
        "ndeath": death.encode(include_dtypes=True).hex(),
        "ncmd_rebirth": rebirth.hex(),
    }


def metric_json(m) -> dict:
    value = m.value
    if isinstance(value, float) and value != value:
        value = None
    return {"name": m.name, "alias": m.alias, "datatype": int(m.datatype), "value": value,
            "timestamp": m.timestamp, "is_historical": m.is_historical}


def decode(kind: str, raw: bytes, birth: bytes | None) -> dict:
    if kind == "nbirth":
        p = NBirth.decode(raw)
    elif kind == "ndata":
        p = NData.decode(raw, birth=NBirth.decode(birth) if birth else None)
    elif kind == "dbirth":
        p = DBirth.decode(raw)
    elif kind == "ddata":
        p = DData.decode(raw, birth=DBirth.decode(birth) if birth else None)
    elif kind == "ncmd":
        p = NCmd.decode(raw)
    elif kind == "ndeath":
        p = NDeath.decode(raw)
        return {"metrics": [metric_json(p.bd_seq_metric)]}
    else:
        raise SystemExit(f"unknown kind {kind}")
    return {"timestamp": p.timestamp, "seq": getattr(p, "seq", None),
            "metrics": [metric_json(m) for m in p.metrics]}


def main() -> int:
    if sys.argv[1:2] == ["fixtures"]:
        print(json.dumps(fixtures(), indent=2, sort_keys=True))
        return 0
    if sys.argv[1:2] == ["decode"] and len(sys.argv) in (4, 5):
        birth = bytes.fromhex(sys.argv[4]) if len(sys.argv) == 5 else None
        print(json.dumps(decode(sys.argv[2], bytes.fromhex(sys.argv[3]), birth)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
