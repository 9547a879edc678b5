#!/usr/bin/env python3
"""Writes a delimited io.prometheus.client.MetricFamily body to stdout, for
tests/e2e/remote_write.sh. Standard library only: the protobuf is encoded by hand.

  pbpush.py PREFIX   a gauge PREFIX_g 7, a counter PREFIX_c_total 8, a summary PREFIX_s
                     (quantile 0.9 = 5, sum 6.5, count 2) and a histogram PREFIX_h (buckets
                     le=1: 1, le=+Inf: 2, sum 1.25, count 2), each with the label a="x"
"""
import struct
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):  # length-delimited
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def double(num, v):
    return varint(num << 3 | 1) + struct.pack("<d", v)


def uint(num, v):
    return varint(num << 3) + varint(v)


def family(name, kind, metric):
    # MetricFamily: name=1, type=3 (COUNTER=0 GAUGE=1 SUMMARY=2 HISTOGRAM=4), metric=4
    label = field(1, field(1, b"a") + field(2, b"x"))
    body = field(1, name.encode()) + uint(3, kind) + field(4, label + metric)
    return varint(len(body)) + body


prefix = sys.argv[1]
quantile = field(3, double(1, 0.9) + double(2, 5.0))
buckets = field(3, uint(1, 1) + double(2, 1.0)) + field(3, uint(1, 2) + double(2, float("inf")))
out = b"".join([
    family(prefix + "_g", 1, field(2, double(1, 7.0))),
    family(prefix + "_c_total", 0, field(3, double(1, 8.0))),
    family(prefix + "_s", 2, field(4, uint(1, 2) + double(2, 6.5) + quantile)),
    family(prefix + "_h", 4, field(7, uint(1, 2) + double(2, 1.25) + buckets)),
])
sys.stdout.buffer.write(out)
