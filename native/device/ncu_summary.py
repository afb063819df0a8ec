#!/usr/bin/env python3
"""Summarizes an Nsight Compute raw CSV page (gpu-run.sh step ncu writes $OUT/ncu-raw.csv): one line per kernel launch
with its launch shape, time, DRAM bytes and throughput, occupancy, and the warp stall reasons that cost the most cycles
per issued instruction. Usage: python3 ncu_summary.py ncu-raw.csv"""
import csv
import sys


def num(v):
    try:
        return float(str(v).replace(',', ''))
    except ValueError:
        return float('nan')


def main(path):
    with open(path, newline='') as f:
        rows = [r for r in csv.reader(f) if r]
    start = next((i for i, r in enumerate(rows) if 'Kernel Name' in r), None)
    if start is None or len(rows) < start + 2:
        sys.exit(f"{path}: no 'Kernel Name' header and units row, so not an ncu raw CSV page "
                 "(did ncu fail? see ncu-run.txt beside it)")
    head, units, data = rows[start], rows[start + 1], rows[start + 2:]
    col = {h: i for i, h in enumerate(head)}

    def get(r, name, default=''):
        i = col.get(name)
        return r[i] if i is not None and i < len(r) else default

    stalls = [h for h in head if h.startswith('smsp__average_warps_issue_stalled_') and h.endswith('_per_issue_active.ratio')]
    for r in data:
        name = get(r, 'Kernel Name')[:40]
        t_us = num(get(r, 'gpu__time_duration.sum')) / (1000.0 if units[col['gpu__time_duration.sum']] == 'nsecond' else 1.0) \
            if 'gpu__time_duration.sum' in col else float('nan')
        if 'dram__bytes_read.sum' in col:
            dram = num(get(r, 'dram__bytes_read.sum'))
            du = units[col['dram__bytes_read.sum']]
        else:   # the sections gpu-run.sh asks for carry the rate only (read + write, the writes are tiny here)
            rate = 'dram__bytes.sum.per_second'
            dram = num(get(r, rate)) * t_us * 1e-6 if rate in col else float('nan')
            du = {'byte/second': 'byte', 'Kbyte/s': 'Kbyte', 'Mbyte/s': 'Mbyte', 'Gbyte/s': 'Gbyte', 'Tbyte/s': 'Tbyte'}.get(
                units[col[rate]] if rate in col else '', 'byte')
        scale = {'byte': 1, 'Kbyte': 1e3, 'Mbyte': 1e6, 'Gbyte': 1e9, 'Tbyte': 1e12, 'KB': 1e3, 'MB': 1e6, 'GB': 1e9}.get(du, 1)
        top = sorted(((num(get(r, h)), h[len('smsp__average_warps_issue_stalled_'):-len('_per_issue_active.ratio')]) for h in stalls), reverse=True)[:5]
        print(f"{name:40s} grid {get(r, 'launch__grid_size'):>6s} blk {get(r, 'launch__block_size'):>4s} regs {get(r, 'launch__registers_per_thread'):>4s} "
              f"cl {get(r, 'launch__cluster_dim_x', '-'):>2s} {t_us:8.2f} us dram {dram * scale / 1e6:8.1f} MB {dram * scale / max(t_us, 1e-9) / 1e3:6.0f} GB/s "
              f"({get(r, 'gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed')}%) occ {get(r, 'sm__warps_active.avg.pct_of_peak_sustained_active')}% "
              f"cpi {get(r, 'smsp__average_warp_latency_per_inst_issued.ratio', '?')} | " + ', '.join(f"{n} {v:.1f}" for v, n in top))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit("usage: python3 ncu_summary.py <ncu-raw.csv> (gpu-run.sh step ncu writes it to $OUT)")
    try:
        main(sys.argv[1])
    except OSError as e:
        sys.exit(f"{sys.argv[1]}: cannot read it ({e.strerror})")
