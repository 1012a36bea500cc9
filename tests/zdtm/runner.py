#!/usr/bin/python3
"""Runs CRIU's zdtm static tests as an unprivileged user, three ways:

  bare    criu dump/restore --unprivileged, run by the user with the ambient
          capabilities sites give criu today (cap_sys_ptrace, cap_sys_admin);
  helper  criu-helper dump --pid PID, then criu-helper restore;
  run     the test started under criu-helper run (below zdtm-hold, which keeps
          the daemonized test in the job's tree), criu-helper dump of the job,
          criu-helper restore.

Each way: the test is started as the user (make NAME.pid, no_new_privs),
checkpointed, restored, sent SIGTERM; PASS is read from NAME.out. Called by
tests/zdtm/run.sh, which fetches and builds the tests; see there.

Every step has a deadline; nothing waits a fixed time for something else to
happen. The runner is a child subreaper (a daemonized test, whose parent
exits, is reparented here and reaped, so that its PID is free again for the
restore); it kills only processes of the zdtm user, and only those of the
test at hand (its sessions, the helper's reaper of its restored job).
"""
import argparse
import concurrent.futures
import ctypes
import os
import pwd
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
START_TIMEOUT = 60      # make NAME.pid (zdtm allows 30 s; more on a busy machine)
CRIU_TIMEOUT = 120      # one dump or one restore
STOP_TIMEOUT = 60       # from SIGTERM to the test's exit
GONE_TIMEOUT = 30       # a dumped tree's tasks are gone
CAPS_BARE = "19,21"     # cap_sys_ptrace, cap_sys_admin

opts = None
user = None
print_lock = threading.Lock()


def log(msg):
    with print_lock:
        print(msg, flush=True)


class Failure(Exception):
    """A step failed: `stage` is where, `reason` the one line that says why."""

    def __init__(self, stage, reason, timeout=False):
        super().__init__(reason)
        self.stage = stage
        self.reason = reason
        self.timeout = timeout


# ---------------------------------------------------------------- processes

def proc_stat(pid):
    """(state, ppid, sid, uid) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
        st = os.stat("/proc/%d" % pid)
    except OSError:
        return None
    try:
        rest = data[data.rindex(")") + 2:].split()
        return rest[0], int(rest[1]), int(rest[3]), st.st_uid
    except (ValueError, IndexError):
        return None


def gone(pid):
    return proc_stat(pid) is None


def ended(pid):
    """Gone, or a zombie (which the subreaper is about to reap)."""
    s = proc_stat(pid)
    return s is None or s[0] in "ZX"


def tree_ids(root):
    """The PIDs and thread IDs of ROOT and its descendants."""
    ids, todo = set(), [root]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tids:
            ids.add(int(t))
            try:
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
    return ids


def wait_until(cond, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
        step = min(step * 1.5, 0.2)


def user_processes():
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        s = proc_stat(int(d))
        if s and s[3] == user.pw_uid:
            out.append((int(d), s))
    return out


def kill_test(sids=(), pids=()):
    """SIGKILLs the zdtm user's processes in sessions SIDS, PIDS themselves
    and their descendants; waits until they are gone."""
    sids = set(s for s in sids if s and s > 1)
    roots = set(p for p in pids if p and p > 1)
    for _ in range(20):
        procs = user_processes()
        children = {}
        for pid, s in procs:
            children.setdefault(s[1], []).append(pid)
        victims = set()
        todo = [p for p in roots if any(p == q for q, _ in procs)]
        while todo:
            p = todo.pop()
            if p in victims:
                continue
            victims.add(p)
            todo.extend(children.get(p, []))
        victims |= set(pid for pid, s in procs if s[2] in sids)
        if not victims:
            return
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        wait_until(lambda: all(ended(p) for p in victims), 10)


def as_user(argv, nnp):
    pre = ["setpriv", "--reuid=%d" % user.pw_uid, "--regid=%d" % user.pw_gid, "--init-groups"]
    if nnp:
        pre.append("--no-new-privs")
    return pre + ["--"] + argv


def user_env():
    return {"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, "TMPDIR": "/tmp", "LANG": "C",
            "ZDTM_THREAD_BOMB": "5"}


def run(argv, timeout, cwd=None, stage="?"):
    """Runs ARGV in a process group of its own; returns (status, stdout,
    stderr). On timeout the group is killed and Failure raised."""
    p = subprocess.Popen(argv, cwd=cwd, env=user_env(), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        p.communicate()
        raise Failure(stage, "%s: no answer in %d s" % (stage, timeout), timeout=True)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# ---------------------------------------------------------------- a test

def first_error(logfile):
    try:
        with open(logfile, errors="replace") as f:
            for line in f:
                if "Error (" in line or line.startswith("Error") or "BUG" in line:
                    return re.sub(r"^\([ 0-9.]+\)\s*", "", line.strip())
    except OSError:
        pass
    return None


def helper_line(err):
    lines = [l.strip() for l in err.splitlines() if l.startswith("criu-helper:")]
    return lines[-1] if lines else (err.strip().splitlines() or ["(nothing on stderr)"])[-1]


def newest_log(directory, name):
    best = None
    for root, _, files in os.walk(directory):
        if name in files:
            p = os.path.join(root, name)
            if best is None or os.stat(p).st_mtime > os.stat(best).st_mtime:
                best = p
    return best


class Test:
    def __init__(self, name, desc, command):
        self.name = name
        self.desc = desc
        self.command = command   # what make NAME.pid runs, for `run`
        self.static = opts.static
        fl = desc.get("flags", "").split()
        # zdtm's "excl" tests (file locks), and the network tests: several
        # bind one fixed port (socket_listen, socket_listen6 and
        # socket_listen4v6 share 8880), and two at once make one restore
        # fail with "Address already in use". So do the terminal tests: a
        # restore needs the terminal's number back ("Unable to open
        # dev/ptmx with specified index 0" when another test holds it).
        self.excl = "excl" in fl or bool(re.match(r"(socket|sock_|sk-|unbound_sock|pty|tty)", name))
        self.start_timeout = max(START_TIMEOUT, int(desc.get("timeout") or 0) * 2)

    def path(self, *p):
        return os.path.join(self.static, *p)

    def clean(self):
        n = self.name
        pat = re.compile(r"^(%s\.(pid|out|test|state)|%s\..*\.(test|state)|chew_%s\.test)" %
                         ((re.escape(n),) * 3))
        for f in os.listdir(self.static):
            if pat.match(f):
                subprocess.run(["rm", "-rf", "--one-file-system", self.path(f)])

    def workdir(self, way):
        d = os.path.join(opts.work, way, self.name)
        subprocess.run(["rm", "-rf", "--one-file-system", d])
        os.makedirs(os.path.dirname(d), exist_ok=True)
        os.chown(os.path.dirname(d), user.pw_uid, user.pw_gid)
        return d

    def mkdir_user(self, d):
        os.mkdir(d, 0o700)
        os.chown(d, user.pw_uid, user.pw_gid)

    def read_pidfile(self):
        try:
            with open(self.path(self.name + ".pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self):
        """make NAME.pid as the user, with no_new_privs; returns the test's PID."""
        status, out, err = run(as_user(["make", "--no-print-directory", "-C", self.static,
                                        self.name + ".pid"], nnp=True),
                               self.start_timeout, stage="start")
        pid = self.read_pidfile()
        if status != 0 or pid is None:
            why = (err.strip().splitlines() or out.strip().splitlines() or ["no pidfile"])[-1]
            raise Failure("start", "start: " + why)
        return pid

    def result(self):
        try:
            with open(self.path(self.name + ".out"), errors="replace") as f:
                words = f.read().split()
        except OSError:
            words = []
        if "PASS" in words:
            return None
        try:
            with open(self.path(self.name + ".out"), errors="replace") as f:
                lines = [l.strip() for l in f if l.strip()]
            why = lines[-1] if lines else "empty .out"
        except OSError:
            why = "no .out"
        return re.sub(r"^\d\d:\d\d:\d\d\.\d+:\s*", "", why)

    def stop(self, pid):
        """SIGTERM to the test; waits for it to end; the .out decides."""
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            raise Failure("restore", "the restored test %d is not there" % pid)
        if not wait_until(lambda: ended(pid), STOP_TIMEOUT):
            raise Failure("check", "the test did not end in %d s after SIGTERM" % STOP_TIMEOUT, timeout=True)
        wait_until(lambda: os.path.exists(self.path(self.name + ".out")), 5)
        why = self.result()
        if why:
            raise Failure("check", "test: " + why)

    # -- bare criu, as the user with ambient capabilities
    def bare(self):
        self.clean()
        d = self.workdir("bare")
        self.mkdir_user(d)
        pid = None
        restored = None
        try:
            pid = self.start()
            criu = [opts.ch_launch, "--user", "%d:%d" % (user.pw_uid, user.pw_gid),
                    "--caps", CAPS_BARE, "--nnp", "--", opts.criu]
            copts = self.desc.get("opts", "").split()
            ids = tree_ids(pid)   # each must be free again for the restore
            status, _, err = run(criu + ["dump", "-t", str(pid), "-D", d, "-o", "dump.log", "-v4",
                                         "--unprivileged", "--timeout", "10"] + copts +
                                 self.desc.get("dopts", "").split(), CRIU_TIMEOUT, stage="dump")
            if status != 0:
                raise Failure("dump", "dump: " + (first_error(os.path.join(d, "dump.log")) or
                                                  "criu exited %d: %s" % (status, err.strip()[-200:])))
            if not wait_until(lambda: all(gone(i) for i in ids | {pid}), GONE_TIMEOUT):
                raise Failure("dump", "dump: a task of the dumped test %d is still there" % pid)
            pidfile = os.path.join(d, "restored.pid")
            status, _, err = run(criu + ["restore", "-D", d, "-o", "restore.log", "-v4", "--unprivileged",
                                         "--restore-detached", "--pidfile", pidfile] + copts +
                                 self.desc.get("ropts", "").split(), CRIU_TIMEOUT, stage="restore")
            if status != 0:
                raise Failure("restore", "restore: " + (first_error(os.path.join(d, "restore.log")) or
                                                        "criu exited %d: %s" % (status, err.strip()[-200:])))
            with open(pidfile) as f:
                restored = int(f.read().strip())
            self.stop(restored)
        finally:
            kill_test(sids=[pid, restored], pids=[pid, restored])

    # -- criu-helper dump --pid, restore
    def helper(self):
        self.clean()
        d = self.workdir("helper")
        pid = None
        restored = None
        reaper = None
        try:
            pid = self.start()
            status, _, err = run(as_user([opts.helper, "dump", "--pid", str(pid), "--images-dir", d], nnp=False),
                                 CRIU_TIMEOUT, stage="dump")
            if status != 0:
                raise Failure("dump", self.helper_reason(err, d, "dump.log"))
            if not wait_until(lambda: gone(pid), GONE_TIMEOUT):
                raise Failure("dump", "dump: the dumped test %d is still there" % pid)
            restored, reaper = self.helper_restore(d)
            self.stop(restored)
        finally:
            kill_test(sids=[pid, restored], pids=[pid, restored, reaper])

    def helper_restore(self, d):
        status, out, err = run(as_user([opts.helper, "restore", "--images-dir", d], nnp=False),
                               CRIU_TIMEOUT, stage="restore")
        if status != 0:
            raise Failure("restore", self.helper_reason(err, d, "restore.log"))
        try:
            restored = int(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise Failure("restore", "restore: no PID on stdout: %r" % out[-200:])
        s = proc_stat(restored)
        reaper = s[1] if s and s[3] == user.pw_uid else None
        return restored, reaper

    @staticmethod
    def helper_reason(err, d, logname):
        line = helper_line(err)
        if "criu failed" in line or "criu exited" in line or "criu was killed" in line or "criu " in line:
            log_ = newest_log(d, logname)
            e = first_error(log_) if log_ else None
            if e:
                line += " [" + e + "]"
        return line

    # -- criu-helper run (the test under zdtm-hold), dump of the job, restore
    def run_way(self):
        self.clean()
        d = self.workdir("run")
        restored = None
        reaper = None
        job = None
        try:
            argv = [opts.hold, self.path(self.command[0][2:] if self.command[0].startswith("./")
                                         else self.command[0])] + self.command[1:]
            job = subprocess.Popen(as_user([opts.helper, "run", "--images-dir", d, "--"] + argv, nnp=False),
                                   cwd=self.static, env=user_env(), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            errbuf = []
            t = threading.Thread(target=lambda: errbuf.append(job.stderr.read()), daemon=True)
            t.start()
            if not wait_until(lambda: self.read_pidfile() is not None or job.poll() is not None,
                              self.start_timeout):
                raise Failure("start", "start: no pidfile in %d s" % self.start_timeout, timeout=True)
            if self.read_pidfile() is None:
                t.join(5)
                raise Failure("start", "start: run exited %s: %s" %
                              (job.returncode, helper_line((errbuf or [b""])[0].decode(errors="replace"))))
            status, _, err = run(as_user([opts.helper, "dump", "--images-dir", d], nnp=False),
                                 CRIU_TIMEOUT, stage="dump")
            if status != 0:
                raise Failure("dump", self.helper_reason(err, d, "dump.log"))
            try:
                job.wait(GONE_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise Failure("dump", "dump: `run` did not end after the dump")
            restored, reaper = self.helper_restore(d)
            self.stop(restored)
        finally:
            if job is not None and job.poll() is None:
                kill_test(pids=[job.pid])
                try:
                    job.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            kill_test(sids=[restored], pids=[restored, reaper])


def one(test, way):
    fn = {"bare": test.bare, "helper": test.helper, "run": test.run_way}[way]
    t0 = time.monotonic()
    try:
        fn()
        res, why = "PASS", ""
    except Failure as f:
        res, why = ("TIMEOUT:" if f.timeout else "FAIL:") + f.stage, f.reason
    except Exception as e:   # the runner's own trouble, said as such
        import traceback
        where = traceback.extract_tb(e.__traceback__)[-1]
        res, why = "ERROR", "runner.py:%d: %s: %s" % (where.lineno, type(e).__name__, e)
    return res, why.replace("\n", " ")[:400], time.monotonic() - t0


def run_test(test, ways):
    r = {"name": test.name}
    for way in ways:
        r[way] = one(test, way)
    line = " ".join("%s=%s" % (w, r[w][0]) for w in ways)
    log("%-32s %s" % (test.name, line))
    return r


# ---------------------------------------------------------------- the list and the results

def load_desc(static, name):
    p = os.path.join(static, name + ".desc")
    if os.path.exists(p) and os.path.getsize(p) > 0:
        with open(p) as f:
            return eval(f.read(), {"os": os})   # zdtm's own format: Python literals (zdtm.py evals them)
    return {}


def norm(s):
    return re.sub(r"\d+", "N", s)


def load_refusals(path):
    """NAME REASON per line ('#' comments): a documented helper refusal or
    failure. REASON must appear in the helper's line (digits compared as N)."""
    out = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                name, _, reason = line.partition(" ")
                out.setdefault(name, []).append(reason.strip())
    return out


def documented(refusals, name, why):
    """Listed for NAME (or, in the known-failures file, for '*') with a
    reason found in WHY."""
    return any(norm(r) in norm(why) for r in refusals.get(name, []) + refusals.get("*", []))


def main():
    global opts, user
    ap = argparse.ArgumentParser()
    ap.add_argument("--static", required=True)
    ap.add_argument("--criu", required=True)
    ap.add_argument("--helper", required=True)
    ap.add_argument("--ch-launch", required=True)
    ap.add_argument("--hold", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--tests", required=True, help="file: one test name a line")
    ap.add_argument("--commands", required=True, help="file: NAME<TAB>what make NAME.pid runs")
    ap.add_argument("--refusals")
    ap.add_argument("--known", help="known failures, not by design: same format, '*' for any test")
    ap.add_argument("--results", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--ways", default="bare,helper,run")
    ap.add_argument("--version", default="?")
    opts = ap.parse_args()
    user = pwd.getpwnam(opts.user)
    ways = opts.ways.split(",")

    commands = {}
    with open(opts.commands) as f:
        for line in f:
            name, _, cmd = line.rstrip("\n").partition("\t")
            commands[name] = shlex.split(cmd)
    names = []
    with open(opts.tests) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                names.append(line)
    tests, absent = [], []
    for n in names:
        if n in commands and os.path.exists(os.path.join(opts.static, n)):
            tests.append(Test(n, load_desc(opts.static, n), commands[n]))
        else:
            absent.append(n)
    refusals = load_refusals(opts.refusals)
    refusals.pop("*", None)   # a refusal by design is one test's
    known = load_refusals(opts.known)

    kill_all()
    t0 = time.monotonic()
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        for r in pool.map(lambda t: run_test(t, ways), [t for t in tests if not t.excl]):
            results[r["name"]] = r
    for t in tests:   # the exclusive tests: one at a time, alone
        if t.excl:
            results[t.name] = run_test(t, ways)
    kill_all()
    elapsed = time.monotonic() - t0

    helper_ways = [w for w in ways if w != "bare"]
    undocumented = []
    known_seen = []
    rows = []
    for t in tests:
        r = results[t.name]
        whys = []
        for w in helper_ways:
            if r[w][0] != "PASS":
                whys.append("%s: %s" % (w, r[w][1]))
                if "bare" in r and r["bare"][0] == "PASS" and not documented(refusals, t.name, r[w][1]):
                    if documented(known, t.name, r[w][1]):
                        known_seen.append((t.name, w, r[w][1]))
                    else:
                        undocumented.append((t.name, w, r[w][1]))
        if "bare" in r and r["bare"][0] != "PASS":
            whys.insert(0, "bare: " + r["bare"][1])
        rows.append([t.name] + [r[w][0] for w in ways] + [" | ".join(whys)])

    with open(opts.results, "w") as f:
        f.write("# zdtm static tests, criu %s, helper %s, user %s, %d tests in %.0f s (jobs %d)\n" %
                (opts.version, opts.helper, opts.user, len(tests), elapsed, opts.jobs))
        f.write("\t".join(["test"] + ways + ["reasons"]) + "\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
        for n in absent:
            f.write("\t".join([n] + ["ABSENT"] * len(ways) + ["not in this criu's zdtm"]) + "\n")

    print()
    print("zdtm: criu %s, %d tests (%d of the list absent from this source), %.0f s" %
          (opts.version, len(tests), len(absent), elapsed))
    for w in ways:
        print("  %-7s PASS %3d of %d" % (w, sum(1 for t in tests if results[t.name][w][0] == "PASS"), len(tests)))
    if "bare" in ways:
        for w in helper_ways:
            both = sum(1 for t in tests if results[t.name]["bare"][0] == "PASS" and results[t.name][w][0] == "PASS")
            print("  %-7s PASS %3d of the bare passes" % (w, both))
    print("results table: %s" % opts.results)
    if known_seen:
        print("KNOWN FAILURES (not by design, listed in %s):" % opts.known)
        by = {}
        for n, w, why in known_seen:
            k = next(r for r in known.get(n, []) + known.get("*", []) if norm(r) in norm(why))
            by.setdefault(k, set()).add(n)
        for k, names in sorted(by.items(), key=lambda kv: -len(kv[1])):
            shown = " ".join(sorted(names)) if len(names) <= 10 else "%d tests" % len(names)
            print("  %s: %s" % (k, shown))
    if undocumented:
        print("FAIL: passed bare, failed under the helper, not in %s:" % opts.refusals)
        for n, w, why in undocumented:
            print("  %s (%s): %s" % (n, w, why))
        return 1
    print("every test that passed bare and failed under the helper is a documented refusal%s" %
          (" or a known failure" if known_seen else ""))
    return 0


def kill_all():
    """Every process of the zdtm user (it is this suite's alone)."""
    subprocess.run(["pkill", "-KILL", "-u", opts.user])
    wait_until(lambda: not [p for p, s in user_processes() if s[0] != "Z"], 30)


def subreaper_main():
    """Becomes a child subreaper, runs main() in a child, reaps everything."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("runner: PR_SET_CHILD_SUBREAPER failed", file=sys.stderr)
        return 70
    child = os.fork()
    if child == 0:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        try:
            code = main()
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 70
        sys.stdout.flush()
        os._exit(code if isinstance(code, int) else 1)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: os.kill(child, s))
    code = 70
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            if code < 0:
                code = 128 - code
            break
    return code


def select(static, names):
    """The tests zdtm runs as a non-root user in the host flavour: no suid,
    nouser, crfail or noauto flag, no other architecture, 'h' among the
    flavours (zdtm's own .desc files say so)."""
    for n in names:
        d = load_desc(static, n)
        flags = d.get("flags", "").split()
        if set(flags) & {"suid", "nouser", "crfail", "noauto"}:
            continue
        if d.get("arch", "x86_64") != "x86_64":
            continue
        if "h" not in d.get("flavor", "h ns uns").split():
            continue
        print(n)


def reason_key(why):
    """The helper's line without what varies from test to test: its common
    prefix and suffix, numbers, quoted values and paths."""
    w = why
    w = w.replace("criu-helper: refused: the dumped images could not be restored: ", "refused (post-dump check): ")
    w = w.replace("criu-helper: refused: ", "refused: ")
    w = re.sub(r"; they were deleted and the job goes on", "", w)
    w = re.sub(r"its log: \S+ ", "", w)
    w = re.sub(r'"[^"]*"', '"..."', w)
    w = re.sub(r"/home/\S+", "PATH", w)
    w = re.sub(r"\b[0-9a-f]{6,}\b", "N", w)
    w = re.sub(r"\d+", "N", w)
    return w


def report(path):
    """Counts and the helper's reasons, grouped, from a results table."""
    with open(path) as f:
        lines = [l.rstrip("\n").split("\t") for l in f if not l.startswith("#")]
    head, rows = lines[0], [r for r in lines[1:] if r[1] != "ABSENT"]
    ways = head[1:-1]
    col = {w: i + 1 for i, w in enumerate(ways)}
    print("%d tests" % len(rows))
    for w in ways:
        print("  %-7s passed %d" % (w, sum(1 for r in rows if r[col[w]] == "PASS")))
    for w in ways:
        if w == "bare":
            continue
        groups = {}
        for r in rows:
            if r[col["bare"]] != "PASS" or r[col[w]] == "PASS":
                continue
            whys = dict(x.split(": ", 1) for x in r[-1].split(" | ") if ": " in x)
            groups.setdefault(reason_key(whys.get(w, "?")), []).append(r[0])
        print()
        print("%s: %d tests pass bare and fail here, by reason:" % (w, sum(len(v) for v in groups.values())))
        for k, v in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            print("  %3d  %s\n       %s" % (len(v), k, " ".join(v)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
        sys.exit(0)
    if len(sys.argv) > 2 and sys.argv[1] == "select":
        select(sys.argv[2], sys.argv[3:])
        sys.exit(0)
    sys.exit(subreaper_main())
