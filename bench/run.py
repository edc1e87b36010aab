#!/usr/bin/env python3
"""The benchmark runner (bench/README.md): sets up namespaces, runs each system's server and the
kernel-side client pinned the same way for every system, repeats each figure, and writes the
results (JSON and a markdown table, see report.py).

Pinning, the same for every system: the server process on CPU 1, the client on CPU 0
(cross-CPU wake-ups for everyone; same-CPU and cross-CPU latency differ by ~4x on this kind of VM).
Behind a TAP, RPS takes the server's frames in on the client's CPU (steer_to_client_cpu). The systems'
figures are interleaved (run_interleaved), so the machine's drift falls on all of them alike.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

import report

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_CPU = "1"
CLIENT_CPU = "0"
STACK_ADDR = "10.0.0.2"
KERNEL_ADDR = "10.0.0.1"
EXTRA_SRC = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
TCP_PORT = 5001
LISTEN_PORT = 5003
KERNEL_HOLD_WORKERS = 12
STEER_CLIENT_RPS = True  # --no-client-rps turns it off (steer_to_client_cpu)


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Namespaces:
    """Every namespace this run creates; all are deleted at exit, also on failure or a signal."""

    def __init__(self):
        self.names = []
        self.seq = 0

    def add(self, tag):
        self.seq += 1
        name = "tsbench-%d-%s%d" % (os.getpid(), tag, self.seq)
        sh("ip", "netns", "add", name)
        self.names.append(name)
        ns = ["ip", "netns", "exec", name]
        sh(*ns, "ip", "link", "set", "lo", "up")
        # Per-namespace knobs only: enough ports and queues for 100k connections from one client.
        for key, value in [("net.ipv4.ip_local_port_range", "1024 65535"), ("net.ipv4.tcp_tw_reuse", "1"),
                           ("net.core.somaxconn", "65535"), ("net.ipv4.tcp_max_syn_backlog", "65535")]:
            sh(*ns, "sysctl", "-q", "-w", "%s=%s" % (key, value), check=False)
        return name

    def delete(self, name):
        sh("ip", "netns", "del", name, check=False)
        if name in self.names:
            self.names.remove(name)

    def delete_all(self):
        for name in list(self.names):
            self.delete(name)


def steer_to_client_cpu(ns, dev):
    """Receive packet steering (RPS) on the TAP: the kernel takes in the frames a TAP server writes on the
    client's CPU, not on the server's CPU in the middle of the server's write (without it, a tapstack or
    lwIP server's ACKs run the kernel sender's whole ACK path, tcp_ack and tcp_write_xmit, on the server's
    CPU). The same for every system behind a TAP (tapstack, lwIP, the raw ceiling). The veth pair stays at
    the kernel's default: there the receiver's work already runs on the sender's CPU, and RPS on the
    client's veth halved the kernel's 8-stream receive in a trial (20.3 -> 11.2 Gbit/s), so the kernel
    keeps its best setting. Off with --no-client-rps."""
    if not STEER_CLIENT_RPS:
        return
    mask = "%x" % (1 << int(CLIENT_CPU))
    sh("ip", "netns", "exec", ns, "sh", "-c",
       "for q in /sys/class/net/%s/queues/rx-*; do echo %s > $q/rps_cpus; done" % (dev, mask))


def tap_namespace(nss, vnet=False):
    ns = nss.add("tap")
    x = ["ip", "netns", "exec", ns]
    sh(*x, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap", *(["vnet_hdr"] if vnet else []))
    sh(*x, "ip", "addr", "add", KERNEL_ADDR + "/24", "dev", "tap0")
    for a in EXTRA_SRC:
        sh(*x, "ip", "addr", "add", a + "/24", "dev", "tap0")
    sh(*x, "ip", "link", "set", "tap0", "up")
    steer_to_client_cpu(ns, "tap0")
    return ns


def veth_namespaces(nss):
    """The kernel's case: the client in one namespace, the server in another, a veth pair between."""
    cns, sns = nss.add("vc"), nss.add("vs")
    sh("ip", "link", "add", "tsbv%d" % os.getpid(), "netns", cns, "type", "veth", "peer", "name", "tsbp%d" % os.getpid(),
       "netns", sns)
    xc, xs = ["ip", "netns", "exec", cns], ["ip", "netns", "exec", sns]
    sh(*xc, "ip", "link", "set", "tsbv%d" % os.getpid(), "name", "veth0")
    sh(*xs, "ip", "link", "set", "tsbp%d" % os.getpid(), "name", "veth0")
    sh(*xc, "ip", "addr", "add", KERNEL_ADDR + "/24", "dev", "veth0")
    for a in EXTRA_SRC:
        sh(*xc, "ip", "addr", "add", a + "/24", "dev", "veth0")
    sh(*xs, "ip", "addr", "add", STACK_ADDR + "/24", "dev", "veth0")
    sh(*xc, "ip", "link", "set", "veth0", "up")
    sh(*xs, "ip", "link", "set", "veth0", "up")
    return cns, sns


def cpu_seconds(pid):
    """CPU time of every thread of a process, in seconds, from the scheduler's own count
    (/proc/PID/task/*/schedstat: nanoseconds, user and system alike). The same measure for every server."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return total / 1e9


class Server:
    def __init__(self, ns, argv, log_path):
        self.log = open(log_path, "a")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "taskset", "-c", SERVER_CPU] + argv,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=5):
        out = ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.log.close()
        return out or ""


class Runner:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.join(args.build, "bench")
        self.nss = Namespaces()
        q = args.quick
        self.runs = args.runs or (1 if q else 3)
        self.secs = 0.5 if q else 2.0
        self.holds = [1000] if q else [1000, 10000, 100000]
        self.hold_secs = {1000: 10, 10000: 30, 100000: 60}
        self.rr_held_secs = 0.3 if q else 2.0
        self.logdir = os.path.join(args.out, "logs")
        os.makedirs(self.logdir, exist_ok=True)

    # ---- the client -----------------------------------------------------------------------------

    def client(self, ns, mode, server_addr, *extra, timeout=None):
        argv = ["ip", "netns", "exec", ns, "taskset", "-c", CLIENT_CPU, os.path.join(self.bin, "bench-client"), mode,
                "--server", server_addr, "--port", str(TCP_PORT)] + [str(e) for e in extra]
        limit = timeout or (self.secs * 3 + 60)
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            log("%s timed out" % mode)
            return None
        lines = [l for l in p.stdout.splitlines() if l.startswith("{") and '"mode"' in l or l.startswith('{"system"')]
        if p.returncode != 0 or not lines:
            log("%s failed (%d): %s" % (mode, p.returncode, p.stderr.strip()[-300:]))
            return None
        return json.loads(lines[-1])

    def wait_ready(self, ns, server, addr, has_stats):
        deadline = time.time() + 10
        while time.time() < deadline and server.alive():
            if not has_stats:
                time.sleep(0.5)
                return True
            if self.client(ns, "stats", addr, timeout=10) is not None:
                return True
            time.sleep(0.2)
        return False

    # ---- the figures ----------------------------------------------------------------------------

    def bulk(self, sysres, key, ns, addr, server, mode, streams, extra=()):
        before = cpu_seconds(server.proc.pid)
        r = self.client(ns, mode, addr, "--seconds", self.secs, "--streams", streams, *extra)
        after = cpu_seconds(server.proc.pid)
        if r is None:
            return
        sysres.add(key, r["gbps"])
        if not r.get("complete", True):
            sysres.note("%s: the server never closed after our FIN; timed to the FIN" % key)
        if before is not None and after is not None and r["bytes"] > 0:
            sysres.add_cpu(key, after - before, r["bytes"])

    def rr(self, sysres, ns, addr, extra=()):
        r = self.client(ns, "rr", addr, "--seconds", self.secs, *extra)
        if r is not None:
            sysres.add("rr_p50_us", r["p50_us"])
            sysres.add("rr_p99_us", r["p99_us"])
            sysres.add("rr_tps", r["tps"])

    def crr(self, sysres, ns, addr, extra=()):
        r = self.client(ns, "crr", addr, "--seconds", self.secs, "--streams", 8, *extra)
        if r is not None and r["count"] > 0:
            sysres.add("crr_cps", r["cps"])

    def udp(self, sysres, ns, addr):
        r = self.client(ns, "udp-send", addr, "--seconds", self.secs, "--size", 64)
        if r is not None and r["stats_after"] and r["stats_before"]:
            got = r["stats_after"]["udp_rx"] - r["stats_before"]["udp_rx"]
            sysres.add("udp_rx_pps", got / r["seconds"])
            sysres.info.setdefault("udp_rx_sent_pps", []).append(round(r["sent"] / r["seconds"]))
        r = self.client(ns, "udp-recv", addr, "--seconds", self.secs, "--size", 64, "--listen-port", LISTEN_PORT)
        if r is not None:
            sysres.add("udp_tx_pps", r["pps"])
            sysres.info.setdefault("udp_tx_server_sent_pps", []).append(round(r["sent"] / r["seconds"]))

    def hold(self, sysres, ns, addr, mem_field, kernel_both_ends=False):
        for n in self.holds:
            r = self.client(ns, "hold", addr, "--count", n, "--seconds", self.hold_secs[n], "--src",
                            ",".join([KERNEL_ADDR] + EXTRA_SRC), "--rr-seconds", self.rr_held_secs,
                            timeout=self.hold_secs[n] + 90)
            if r is None or not r["stats_during"] or not r["stats_before"]:
                sysres.note("hold %d: no result (client failed or the server did not answer STATS)" % n)
                continue
            tag = report.hold_tag(n)
            held = min(r["established"], r["stats_during"]["parked"])
            sysres.add("held_" + tag, held)
            sysres.info["hold_" + tag] = {"client_established": r["established"], "client_failed": r["failed"],
                                          "client_processes": r.get("processes"),
                                          "server_parked": r["stats_during"]["parked"],
                                          "open_seconds": r["open_seconds"]}
            sysres.info["hold_" + tag].update(stats_before=r["stats_before"], stats_during=r["stats_during"])
            # Memory is divided by what the client established: a connection still waiting in the
            # server's accept queue is in the server's stack all the same.
            est = r["established"]
            if held > 0 and est > 0:
                before, during = r["stats_before"][mem_field], r["stats_during"][mem_field]
                if before is not None and during is not None:
                    per = (during - before) / est / (2 if kernel_both_ends else 1)
                    sysres.add("mem_per_conn_" + tag, per)
                if mem_field == "heap" and r["stats_during"].get("stack_mem") is not None:
                    sm = (r["stats_during"]["stack_mem"] - r["stats_before"]["stack_mem"]) / est
                    sysres.info.setdefault("stack_mem_per_conn_" + tag, []).append(round(sm, 1))
            if r["rr"]:
                sysres.add("rr_p50_held_" + tag, r["rr"]["p50_us"])

    # ---- the systems ----------------------------------------------------------------------------

    # A system under test: its server up in its namespace, measured figure by figure alongside the others.

    class Subject:
        def __init__(self, sysres, ns, addr, server, cleanup, hold):
            self.res, self.ns, self.addr, self.server = sysres, ns, addr, server
            self.cleanup = cleanup  # stops the server and deletes the namespaces
            self.hold = hold        # hold(): the connection-holding figures, once the interleaved rounds are over
            self.restart_after = set()  # figures after which the server starts afresh (restart)
            self.restart = None

    def start_stack_over_tap(self, name, argv, has_stats=True, restart_after=()):
        sysres = report.SystemResult(name)
        ns = tap_namespace(self.nss)
        log_path = os.path.join(self.logdir, name + ".log")
        subject = Runner.Subject(sysres, ns, STACK_ADDR, Server(ns, argv, log_path), None, None)

        def cleanup():
            subject.server.stop()
            self.nss.delete(ns)

        def hold():
            self.hold(sysres, ns, STACK_ADDR, "heap")
            stats = self.client(ns, "stats", STACK_ADDR, timeout=10)
            if stats:
                sysres.info["server_stats_at_end"] = stats

        def restart():
            subject.server.stop()
            subject.server = Server(ns, argv, log_path)
            sysres.info["server_restarts"] = sysres.info.get("server_restarts", 0) + 1
            if not self.wait_ready(ns, subject.server, STACK_ADDR, has_stats):
                sysres.note("the server did not come back after a restart (see logs/%s.log)" % name)

        subject.cleanup, subject.hold, subject.restart = cleanup, hold, restart
        subject.restart_after = set(restart_after)
        if not self.wait_ready(ns, subject.server, STACK_ADDR, has_stats):
            cleanup()
            return sysres.fail("the server did not start (see logs/%s.log)" % name)
        return subject

    def figure_steps(self):
        """One run of every common figure, as steps that each measure one figure of one subject."""
        return [
            ("bulk_rx_1", lambda j: self.bulk(j.res, "bulk_rx_1", j.ns, j.addr, j.server, "bulk-send", 1)),
            ("bulk_rx_8", lambda j: self.bulk(j.res, "bulk_rx_8", j.ns, j.addr, j.server, "bulk-send", 8)),
            ("bulk_tx_1", lambda j: self.bulk(j.res, "bulk_tx_1", j.ns, j.addr, j.server, "bulk-recv", 1)),
            ("bulk_tx_8", lambda j: self.bulk(j.res, "bulk_tx_8", j.ns, j.addr, j.server, "bulk-recv", 8)),
            ("rr", lambda j: self.rr(j.res, j.ns, j.addr)),
            ("crr", lambda j: self.crr(j.res, j.ns, j.addr)),
            ("udp", lambda j: self.udp(j.res, j.ns, j.addr)),
        ]

    def start_tapstack(self):
        return self.start_stack_over_tap("tapstack", [os.path.join(self.bin, "ts-bench-server"), "--dev", "tap0",
                                                      "--addr", STACK_ADDR + "/24"])

    def start_lwip(self):
        path = os.path.join(self.bin, "lwip-bench-server")
        if not os.path.exists(path):
            return report.SystemResult("lwip").fail("not built (liblwip-dev missing)")
        # After connect-send-close, lwIP 2.1.3 answers a new SYN from a port the client reuses with a bare
        # ACK and ignores the client's RST (an old connection of that port still in its table, TIME-WAIT
        # for 2 x TCP_MSL = 2 minutes by the look of it): its next figures would measure that, not lwIP's
        # speed. A fresh lwIP server follows that figure, which only ever favours lwIP.
        return self.start_stack_over_tap("lwip", [path, "--dev", "tap0", "--addr", STACK_ADDR + "/24"],
                                         restart_after=("crr",))

    def start_kernel(self):
        sysres = report.SystemResult("kernel")
        cns, sns = veth_namespaces(self.nss)
        servers = [Server(sns, [os.path.join(self.bin, "kernel-bench-server")], os.path.join(self.logdir, "kernel.log"))]

        def cleanup():
            servers[-1].stop()
            self.nss.delete(cns)
            self.nss.delete(sns)

        def hold():
            # Holding 100k connections takes more descriptors than one process may have here: the same
            # server as several processes sharing its sockets (kernel-bench-server --workers).
            servers[-1].stop()
            servers.append(Server(sns, [os.path.join(self.bin, "kernel-bench-server"), "--workers",
                                        str(KERNEL_HOLD_WORKERS)], os.path.join(self.logdir, "kernel.log")))
            if self.wait_ready(cns, servers[-1], STACK_ADDR, True):
                self.hold(sysres, cns, STACK_ADDR, "kmem", kernel_both_ends=True)

        if not self.wait_ready(cns, servers[0], STACK_ADDR, True):
            cleanup()
            return sysres.fail("the server did not start")
        return Runner.Subject(sysres, cns, STACK_ADDR, servers[0], cleanup, hold)

    def run_interleaved(self, starters):
        """Starts every system's server, then measures run k of each figure for every system in turn
        before run k+1: the machine's drift over minutes falls on every system alike, not on one."""
        results, subjects = [], []
        try:
            for name, start in starters:
                log("system %s: starting" % name)
                got = start()
                if isinstance(got, report.SystemResult):
                    results.append(got)
                else:
                    subjects.append(got)
            t0 = time.time()
            for k in range(self.runs):
                for fig, step in self.figure_steps():
                    for j in subjects:
                        log("%s: %s, run %d/%d" % (j.res.name, fig, k + 1, self.runs))
                        step(j)
                        if fig in j.restart_after:
                            log("%s: a fresh server after %s" % (j.res.name, fig))
                            j.restart()
            for j in subjects:
                j.res.info["interleaved_figures_wall_seconds"] = round(time.time() - t0, 1)
            for j in subjects:
                log("system %s: connections held" % j.res.name)
                j.hold()
                results.append(j.res)
        finally:
            for j in subjects:
                j.cleanup()
        return results

    def probe_path(self):
        env = os.environ.get("TS_TAPPROBE")
        return env or os.path.join(self.bin, "tapprobe", "ts-tapprobe")

    def probe(self, ns, mode, vnet, log_name, *extra):
        argv = [self.probe_path(), "--dev", "tap0", "--addr", STACK_ADDR, "--mode", mode,
                "--duration", str(self.secs * 4 + 30)] + (["--vnet"] if vnet else []) + list(extra)
        return Server(ns, argv, os.path.join(self.logdir, log_name))

    def run_probe(self, vnet):
        name = "tap_ceiling_vnet" if vnet else "tap_ceiling"
        sysres = report.SystemResult(name)
        if not os.path.exists(self.probe_path()):
            return sysres.fail("not built (build/bench/tapprobe/ts-tapprobe missing)")
        ns = tap_namespace(self.nss, vnet)
        nc = ["--no-cmd", "--no-stats"]
        try:
            for k in range(self.runs):
                log("%s: run %d/%d" % (name, k + 1, self.runs))
                for key, mode, client_mode, streams in [("bulk_rx_1", "sink", "bulk-send", 1),
                                                        ("bulk_rx_8", "sink", "bulk-send", 8)]:
                    p = self.probe(ns, mode, vnet, name + ".log")
                    time.sleep(0.3)
                    self.bulk(sysres, key, ns, STACK_ADDR, p, client_mode, streams, nc)
                    p.stop()
                self.probe_source(sysres, ns, vnet, name)
                p = self.probe(ns, "echo", vnet, name + ".log")
                time.sleep(0.3)
                self.rr(sysres, ns, STACK_ADDR, nc)
                p.stop()
                self.probe_udp(sysres, ns, vnet, name)
        finally:
            self.nss.delete(ns)
        return sysres

    def probe_source(self, sysres, ns, vnet, name):
        """Stack to kernel: the client listens, the probe connects and sends as fast as the window allows."""
        argv = ["ip", "netns", "exec", ns, "taskset", "-c", CLIENT_CPU, os.path.join(self.bin, "bench-client"),
                "bulk-recv-listen", "--server", KERNEL_ADDR, "--listen-port", str(LISTEN_PORT), "--seconds",
                str(self.secs)]
        c = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = c.stdout.readline()
        if '"listening"' not in first:
            c.kill()
            c.communicate()
            return
        p = self.probe(ns, "source", vnet, name + ".log", "--peer", KERNEL_ADDR, "--port", str(LISTEN_PORT))
        before = cpu_seconds(p.proc.pid)
        try:
            out, _ = c.communicate(timeout=self.secs * 3 + 30)
        except subprocess.TimeoutExpired:
            c.kill()
            out, _ = c.communicate()
        after = cpu_seconds(p.proc.pid)
        p.stop()
        lines = [l for l in out.splitlines() if '"mode"' in l]
        if c.returncode == 0 and lines:
            r = json.loads(lines[-1])
            sysres.add("bulk_tx_1", r["gbps"])
            if before is not None and after is not None and r["bytes"] > 0:
                sysres.add_cpu("bulk_tx_1", after - before, r["bytes"])

    def probe_udp(self, sysres, ns, vnet, name):
        p = self.probe(ns, "udp-sink", vnet, name + ".log")
        time.sleep(0.3)
        r = self.client(ns, "udp-send", STACK_ADDR, "--seconds", self.secs, "--size", 64, "--no-stats")
        out = p.stop()
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if r is not None and lines:
            summary = json.loads(lines[-1])
            got = summary.get("datagrams", summary.get("frames"))
            if got is not None:
                sysres.add("udp_rx_pps", got / r["seconds"])

    # ---- the whole run --------------------------------------------------------------------------

    def run(self):
        chosen = lambda name: not self.args.systems or name in self.args.systems.split(",")
        starters = [(name, fn) for name, fn in [("tapstack", self.start_tapstack), ("lwip", self.start_lwip),
                                                ("kernel", self.start_kernel)] if chosen(name)]
        results = self.run_interleaved(starters)
        for name, vnet in [("tap_ceiling", False), ("tap_ceiling_vnet", True)]:
            if not chosen(name):
                continue
            log("system %s" % name)
            t0 = time.time()
            res = self.run_probe(vnet)
            res.info["wall_seconds"] = round(time.time() - t0, 1)
            results.append(res)
        return results


def machine_info(args, runner):
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    model, mhz = "", None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":", 1)[1])
    perf = shutil.which("perf")
    cycles_ok = False
    if perf:
        p = subprocess.run([perf, "stat", "-x,", "-e", "cycles", "true"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        cycles_ok = p.returncode == 0 and "not supported" not in p.stderr and "<not" not in p.stderr
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "host": platform.node(), "kernel": platform.release(), "cpu": model, "cpu_mhz": mhz,
            "nproc": os.cpu_count(), "loadavg_at_start": load, "quick": args.quick, "runs": runner.runs,
            "seconds_per_run": runner.secs, "perf_cycles": cycles_ok,
            "pinning": "server on CPU %s, client on CPU %s, for every system%s" % (
                SERVER_CPU, CLIENT_CPU, "; behind a TAP the kernel takes in the server's frames on the client's "
                "CPU (RPS)" if STEER_CLIENT_RPS else ""),
            "order": "systems interleaved: each figure's run k is measured for every system before run k+1"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: one short run per figure, 1k connections")
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"), help="the build directory")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="where results go")
    ap.add_argument("--runs", type=int, default=0, help="runs per figure (default 3, 1 with --quick)")
    ap.add_argument("--systems", default="", help="comma-separated subset: tapstack,lwip,kernel,tap_ceiling,...")
    ap.add_argument("--note", action="append", default=[], help="a note for the results (machine load ...)")
    ap.add_argument("--check", action="store_true", help="fail unless every figure is there for tapstack, lwip, kernel")
    ap.add_argument("--no-client-rps", action="store_true",
                    help="leave the kernel client's receive processing wherever the kernel puts it")
    args = ap.parse_args()
    global STEER_CLIENT_RPS
    STEER_CLIENT_RPS = not args.no_client_rps
    if os.geteuid() != 0:
        print("bench/run.sh: needs root (network namespaces and TAP devices)", file=sys.stderr)
        return 1
    for b in ["ts-bench-server", "kernel-bench-server", "bench-client"]:
        if not os.path.exists(os.path.join(args.build, "bench", b)):
            print("bench/run.sh: %s/bench/%s missing: build first" % (args.build, b), file=sys.stderr)
            return 1
    os.makedirs(args.out, exist_ok=True)
    runner = Runner(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        info = machine_info(args, runner)
        results = runner.run()
    finally:
        runner.nss.delete_all()
    doc = report.build(info, results, args.note)
    paths = report.write(doc, args.out, latest=not args.quick)
    print(open(paths[1]).read())
    log("results: " + ", ".join(paths))
    if args.check:
        missing = report.check(doc, ["tapstack", "lwip", "kernel"])
        if missing:
            print("bench check FAILED: missing or zero: " + ", ".join(missing), file=sys.stderr)
            return 1
        print("bench check: every figure present for tapstack, lwip and kernel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
