"""Fuzzing campaigns: every target's inputs in parallel over the cores, resumable, reported.

`python -m elfkit.fuzz` (and `make fuzz`) runs inputs 0..N-1 of each target under one seed.
Worker processes (one per core by default) import elfkit once and fork a child per input
(targets.run_command). Results come back in index order, so a target's state file
(`STATE_DIR/TARGET.json`) records the next index to run, the inputs run, the wall time spent,
the outcomes by exit status and every failure with its recipe; a campaign stopped part way
(Ctrl-C, a machine going away) starts again where it stopped. The figures go to stdout, one
line per target, and with --report into FUZZ.md.

Reproducing one input: `python -m elfkit.fuzz --replay TARGET:SEED:INDEX [--keep FILE]` makes
the same bytes (recipe and base printed), runs the command and prints its verdict.

A campaign larger than one machine is split with `--shard K/N` (CI matrix runners, one each):
shard K runs the indices i with i % N == K - 1, each input still made from (seed, target, i)
alone, into a state file of its own (`TARGET.shard-K-of-N.json`); gathered into one state
directory, the shards' files make one report (`--report` adds up every shard of a target).
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from elfkit.fuzz import targets as T

DEFAULT_STATE = T.ROOT / ".fuzz"
_worker_dir: str | None = None


def _init_worker(tmp_root: str):
    global _worker_dir
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)     # (and ends the pool with SIGTERM)
    _worker_dir = tempfile.mkdtemp(prefix="w", dir=tmp_root)
    T.preload()


def _run_one(job):
    name, seed, index = job
    target = T.TARGETS[name]
    try:
        inp = T.Input(target, seed, index)
    except Exception as e:                           # noqa: BLE001 - the harness's own bug
        return index, {"failure": "harness", "status": None, "signal": None,
                       "stderr": f"{type(e).__name__}: {e}", "seconds": 0}, None
    v = T.run_input(inp, _worker_dir)
    return index, v.as_dict(), inp.describe()


def load_state(path: Path, seed: int) -> dict:
    if path.exists():
        state = json.loads(path.read_text())
        if state.get("seed") == seed:
            return state
    return {"seed": seed, "next": 0, "ran": 0, "wall": 0.0, "cpu": 0.0, "outcomes": {},
            "failures": [], "slowest": []}


def save_state(path: Path, state: dict):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)


def outcome_key(r: dict) -> str:
    if r["failure"]:
        return "FAIL:" + r["failure"]
    return f"signal {r['signal']}" if r["signal"] is not None else f"exit {r['status']}"


def state_path(state_dir: Path, name: str, shard: tuple[int, int] | None = None) -> Path:
    if shard is None:
        return state_dir / f"{name}.json"
    return state_dir / f"{name}.shard-{shard[0]}-of-{shard[1]}.json"


def run_target(pool, name: str, inputs: int, seed: int, state_dir: Path, progress=None,
               shard: tuple[int, int] | None = None) -> dict:
    """Run `name`'s inputs from its state's next index up to `inputs` (of shard K/N: the
    indices i % N == K - 1); the updated state."""
    path = state_path(state_dir, name, shard)
    state = load_state(path, seed)
    start = state["next"]
    k, n = shard or (1, 1)
    start += (k - 1 - start) % n                      # the shard's first index from there on
    if start >= inputs:
        return state
    t0 = last_save = time.monotonic()
    jobs = ((name, seed, i) for i in range(start, inputs, n))
    try:
        for index, result, desc in pool.imap(_run_one, jobs, chunksize=2):
            state["next"] = index + 1
            state["ran"] += 1
            state["cpu"] += result["seconds"]
            key = outcome_key(result)
            state["outcomes"][key] = state["outcomes"].get(key, 0) + 1
            if result["failure"]:
                state["failures"].append({**(desc or {"id": f"{name}:{seed}:{index}"}), **result})
            slow = state["slowest"]
            if len(slow) < 5 or result["seconds"] > slow[-1][1]:
                slow.append([index, result["seconds"]])
                slow.sort(key=lambda x: -x[1])
                del slow[5:]
            now = time.monotonic()
            if now - last_save > 5:
                state["wall"] += now - t0
                t0 = last_save = now
                save_state(path, state)
                if progress:
                    progress(name, state)
    finally:
        state["wall"] += time.monotonic() - t0
        save_state(path, state)
    return state


def gathered_state(state_dir: Path, name: str, seed: int) -> dict:
    """Every state file of `name` under `seed` in state_dir -- the whole run's and each shard's
    -- added up: inputs, CPU time, outcomes, failures, the slowest inputs; the wall time is the
    longest one's (the shards ran side by side on their own machines)."""
    total = load_state(Path("/nonexistent"), seed)
    for path in sorted(state_dir.glob(f"{name}.json")) + sorted(state_dir.glob(f"{name}.shard-*.json")):
        st = load_state(path, seed)
        if not st["ran"]:
            continue
        total["ran"] += st["ran"]
        total["cpu"] += st["cpu"]
        total["wall"] = max(total["wall"], st["wall"])
        for k, v in st["outcomes"].items():
            total["outcomes"][k] = total["outcomes"].get(k, 0) + v
        total["failures"] += st["failures"]
        total["slowest"] = sorted(total["slowest"] + st["slowest"], key=lambda x: -x[1])[:5]
    return total


def figures(name: str, state: dict) -> str:
    rate = state["ran"] / state["wall"] if state["wall"] else 0.0
    slowest = state["slowest"][0][1] if state["slowest"] else 0
    return (f"{name:20} inputs {state['ran']:7}  failures {len(state['failures']):4}  "
            f"{rate:6.1f} inputs/s  (slowest {slowest:.2f} s)")


def write_report(path: Path, states: dict, seed: int, jobs: int):
    """FUZZ.md: the last campaign's figures per target, where the inputs come from, and how to
    reproduce one."""
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kept = {case.get("found") for case in _regression_cases()}
    rows = []
    for name, st in states.items():
        rate = st["ran"] / st["wall"] if st["wall"] else 0.0
        kinds = sorted({f["failure"] for f in st["failures"]})
        fixed = sum(f["id"] in kept for f in st["failures"])
        note = ", ".join(kinds) + (f"; {fixed} fixed, kept in tests/fuzz_regressions" if fixed
                                   else "")
        rows.append(f"| `{name}` | {st['ran']:,} | {len(st['failures'])}"
                    f"{' (' + note + ')' if kinds else ''} | {rate:.1f} | "
                    f"{(st['slowest'][0][1] if st['slowest'] else 0):.2f} |")
    bases = []
    for name in states:
        t = T.TARGETS[name]
        bases.append(f"- `{name}`: " + ", ".join(f"`{T.relpath(b)}`" for b in t.bases()))
    cmd = {"inspect": "inspect --all", "inspect-json": "inspect --all --json", "check": "check -v",
           "disasm": "disasm", "load-and-run": "load-and-run (bounded)",
           "load-and-run-elfkit": "load-and-run --linker=elfkit (bounded)",
           "trace-plt": "trace-plt (bounded)", "link": "link -static (one object mutated)"}
    text = f"""# Fuzzing campaign

The last campaign of `make fuzz` (elfkit/fuzz: `python -m elfkit.fuzz`), {today}: seed {seed},
{jobs} worker process(es) on a machine with {os.cpu_count()} CPU(s). Each input is a mutation
of a real file (the bases below) made from (seed, target, index) alone; a failure is a Python
traceback, "internal error", a hang past the per-input limit, a memory blow-up under the
address-space cap, or elfkit itself dying by a signal (elfkit/fuzz/targets.py, `judge`).
Inputs per second are per campaign wall time, all workers together, each input a forked child
of a worker with elfkit imported (no interpreter start-up).

| target | inputs | failures | inputs/s | slowest input (s) |
|---|---|---|---|---|
{chr(10).join(rows)}

Commands: {"; ".join(f"`{k}`: `elfkit {v}`" for k, v in cmd.items() if k in states)}.
Guests run with `--timeout 4 --max-insns 3000000 --memory-limit 256M --seed 1 --clear-env`.

## Inputs' sources

Mutations (elfkit/fuzz/mutate.py): bit flips, byte fills, truncations at header and table
boundaries; ELF header, program header, section header and dynamic entry fields set to
extremes (0, 1, all ones, the sign bit, huge counts, addresses at the edges of the user
address space); PT_LOAD geometry (overlapping and out-of-range segments, p_filesz > p_memsz,
zero-sized segments, misaligned offsets, odd alignments); self-referential dynamic entries
(tables placed on the dynamic array); cyclic and unterminated SysV and GNU hash chains;
cyclic verneed/verdef chains; PT_INTERP pointing at non-ELF files, libraries, directories,
nothing, or unterminated. One to three steps per input. Base files:

{chr(10).join(bases)}

## Found and fixed

Each crashing input the campaigns found, kept minimised under tests/fuzz_regressions/ (run by
tests/test_fuzz.py), and what it did before its fix:

{chr(10).join(_regressions())}

## Reproducing an input

    python -m elfkit.fuzz --replay TARGET:SEED:INDEX --keep /tmp/input

prints the base and recipe, writes the bytes, runs the command and prints its verdict.
Inputs that failed once are kept, minimised, under tests/fuzz_regressions/ and run by
tests/test_fuzz.py.
"""
    path.write_text(text)


def _regression_cases() -> list[dict]:
    out = []
    for path in sorted((T.ROOT / "tests" / "fuzz_regressions").glob("*.json")):
        try:
            out.append({**json.loads(path.read_text()), "name": path.stem})
        except (OSError, ValueError):
            continue
    return out


def _regressions() -> list[str]:
    return [f"- `{c['name']}` (`{c.get('target')}`, found as `{c.get('found')}`): "
            f"{c.get('before_fix', '')}" for c in _regression_cases()] or ["(none)"]


def replay(spec: str, keep: str | None) -> int:
    name, seed, index = spec.split(":")
    target = T.TARGETS[name]
    inp = T.Input(target, int(seed), int(index))
    print(json.dumps(inp.describe()))
    if keep:
        Path(keep).write_bytes(inp.data)
    T.preload()
    work = tempfile.mkdtemp(prefix="elfkit-replay-")
    try:
        v = T.run_input(inp, work)
        print(json.dumps(v.as_dict(), indent=1))
        return 1 if v.failure else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m elfkit.fuzz", description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default=os.environ.get("FUZZ_TARGETS", ",".join(T.TARGETS)),
                    help="comma-separated: " + ", ".join(T.TARGETS))
    ap.add_argument("--inputs", type=int, default=int(os.environ.get("FUZZ_INPUTS", 100_000)),
                    help="inputs per target (default 100000, env FUZZ_INPUTS)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", 1)))
    ap.add_argument("--jobs", type=int,
                    default=int(os.environ.get("FUZZ_JOBS", os.cpu_count() or 1)))
    ap.add_argument("--state-dir", default=os.environ.get("FUZZ_STATE", str(DEFAULT_STATE)))
    ap.add_argument("--fresh", action="store_true", help="forget the state files: start at 0")
    ap.add_argument("--report", help="write the figures into this file (FUZZ.md)")
    ap.add_argument("--replay", metavar="TARGET:SEED:INDEX")
    ap.add_argument("--keep", metavar="FILE", help="with --replay: write the input's bytes here")
    ap.add_argument("--shard", metavar="K/N",
                    help="run only shard K of N of every target's inputs (indices i %% N == K-1), "
                         "for CI matrix runners; its own state files")
    args = ap.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.keep)
    shard = None
    if args.shard:
        from elfkit.check.tree import parse_shard
        try:
            shard = parse_shard(args.shard)
        except ValueError as e:
            ap.error(f"--shard: {e}")
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in T.TARGETS]
    if unknown:
        ap.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(T.TARGETS)}")
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        for n in names:
            state_path(state_dir, n, shard).unlink(missing_ok=True)
    # Ctrl-C and SIGTERM alike stop the campaign with its state saved (a background job's
    # SIGINT may be ignored: set it again)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: signal.default_int_handler(signal.SIGINT, None))
    tmp_root = tempfile.mkdtemp(prefix="elfkit-fuzz-")
    ctx = multiprocessing.get_context("fork")
    states = {}
    interrupted = False
    pool = ctx.Pool(args.jobs, initializer=_init_worker, initargs=(tmp_root,))
    try:
        for n in names:
            if not T.TARGETS[n].bases():
                print(f"{n:20} skipped: no base file (make -C fixtures)", flush=True)
                continue
            states[n] = run_target(pool, n, args.inputs, args.seed, state_dir,
                                   progress=lambda name, st: print(
                                       "  " + figures(name, st), file=sys.stderr, flush=True),
                                   shard=shard)
            print(figures(n, states[n]), flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: the state files hold where to go on from", file=sys.stderr)
    finally:
        pool.terminate()
        pool.join()
        shutil.rmtree(tmp_root, ignore_errors=True)
    failed = {n: st for n, st in states.items() if st["failures"]}
    for n, st in failed.items():
        for f in st["failures"][:20]:
            print(f"FAIL {f['id']} {f['failure']}: {f.get('base')} {json.dumps(f.get('recipe'))}"
                  f"\n     {f['stderr'].strip().splitlines()[-1] if f['stderr'].strip() else ''}")
    if args.report and states:
        # every target's figures under this seed, also those of earlier (resumed) runs
        every = {n: gathered_state(state_dir, n, args.seed) for n in T.TARGETS}
        every = {n: st for n, st in every.items() if st["ran"]}
        write_report(Path(args.report), every, args.seed, args.jobs)
    return 130 if interrupted else (1 if failed else 0)
