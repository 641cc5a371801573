#!/usr/bin/env python3
"""linkemu.py - userspace UDP relay emulating network links between
simulated nodes (kernel netem is not available): per-direction delay, jitter,
loss, asymmetry and outages, with named profiles.

One link relays one client to one server: the client sends to the link's
listen address, the relay forwards from that address (or the link's `source`)
to the server, and the server's replies go back the same way. Links that name
their `client` share one listen address and port, told apart by the
packet's source address: many clients reach one server at ONE address, as
headsets reach their master in a real fleet, each over its own impaired
link. All links are served by one thread.

    python3 linkemu.py --link 127.6.11.1:123=127.6.10.1:123 --profile wifi

Delay model, per packet and direction:
    one_way = delay_ms * (1 + asym) [client->server] or (1 - asym) [back]
              + min(exponential(mean jitter_ms), jitter_max_ms)
and each packet is lost with probability `loss`. `outages` are (start_s,
end_s) windows after the relay started during which the link drops every
packet; `set_down()` does the same at run time (partitions). Packets may be
reordered, as on a real radio link.
"""
import argparse
import heapq
import itertools
import random
import selectors
import socket
import threading
import time

PROFILES = {
    # wired switch: ~0.2 ms, no loss
    "lan": dict(delay_ms=0.2, jitter_ms=0.05, jitter_max_ms=1.0, loss=0.0, asym=0.0),
    # one WiFi router, light traffic: 2-30 ms one way, 1 % loss
    "wifi": dict(delay_ms=2.0, jitter_ms=4.0, jitter_max_ms=28.0, loss=0.01, asym=0.0),
    # crowded 2.4 GHz: long tail, asymmetric, 5 % loss
    "bad-wifi": dict(delay_ms=5.0, jitter_ms=15.0, jitter_max_ms=150.0, loss=0.05, asym=0.3),
    # no impairment at all (tests)
    "ideal": dict(delay_ms=0.0, jitter_ms=0.0, jitter_max_ms=0.0, loss=0.0, asym=0.0),
}


def profile(name, **override):
    """Parameters of a named profile, with overrides."""
    if name not in PROFILES:
        raise ValueError("unknown link profile '%s' (have %s)" % (name, ", ".join(PROFILES)))
    p = dict(PROFILES[name])
    for k, v in override.items():
        if k not in p and k != "outages":
            raise ValueError("unknown link parameter '%s'" % k)
        p[k] = v
    p.setdefault("outages", [])
    return p


def _udp(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(addr)
    except OSError as e:
        s.close()
        raise OSError(e.errno, "link emulator: bind %s:%d: %s" % (addr[0], addr[1], e.strerror))
    return s


class Link:
    """front: the shared listen socket (links with a `client`), else its own."""

    def __init__(self, name, listen, target, params, rng, front=None, source=None):
        self.name, self.listen, self.target = name, listen, target
        self.p = params
        self.rng = rng
        self.down = False
        self.client = None
        self.stats = dict(fwd=0, back=0, lost=0, dropped_down=0)
        self.shared = front is not None
        self.front = front if front is not None else _udp(listen)
        self.back = _udp((source or listen[0], 0))

    def one_way(self, forward):
        p = self.p
        base = p["delay_ms"] * ((1 + p["asym"]) if forward else (1 - p["asym"]))
        jit = 0.0
        if p["jitter_ms"] > 0:
            jit = min(self.rng.expovariate(1.0 / p["jitter_ms"]), p["jitter_max_ms"])
        return max(base + jit, 0.0) / 1000.0

    def is_down(self, t_rel):
        return self.down or any(a <= t_rel < b for a, b in self.p["outages"])

    def close(self):
        if not self.shared:
            self.front.close()
        self.back.close()


class LinkEmu:
    """All links of a simulation, relayed by one thread."""

    def __init__(self, seed=1):
        self.links = {}
        self.shared = {}  # listen (addr, port) -> (socket, {client address: link})
        self.unknown_client = 0  # packets to a shared address from no link's client
        self.seed = seed
        self.sel = selectors.DefaultSelector()
        self.queue = []
        self.counter = itertools.count()
        self.thread = None
        self.stop_flag = False
        self.t0 = time.monotonic()
        self.wake_r, self.wake_w = socket.socketpair()
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)

    def add(self, name, listen, target, params, client=None, source=None):
        """A link from listen to target. client (an address): the link
        relays only that client's packets and shares listen with the other
        links that name theirs. source: the address it sends to the target
        from (default listen's)."""
        rng = random.Random("%s/%s" % (self.seed, name))
        if client is None:
            link = Link(name, listen, target, params, rng, source=source)
            # epoll registration is safe while the relay thread is in select().
            self.sel.register(link.front, selectors.EVENT_READ, (link, True))
        else:
            if listen not in self.shared:
                sock = _udp(listen)
                self.shared[listen] = (sock, {})
                self.sel.register(sock, selectors.EVENT_READ, ("demux", self.shared[listen]))
            sock, by_client = self.shared[listen]
            if client in by_client:
                raise ValueError("link %s: %s:%d already relays client %s (link %s)" %
                                 (name, listen[0], listen[1], client, by_client[client].name))
            link = Link(name, listen, target, params, rng, front=sock, source=source)
            by_client[client] = link
        self.links[name] = link
        self.sel.register(link.back, selectors.EVENT_READ, (link, False))
        self._wake()
        return link

    def set_down(self, name, down=True):
        self.links[name].down = down

    def start(self):
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self._run, name="linkemu", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag = True
        self._wake()
        if self.thread:
            self.thread.join(5)
        for link in self.links.values():
            link.close()
        for sock, _ in self.shared.values():
            sock.close()
        self.sel.close()
        self.wake_r.close()
        self.wake_w.close()

    def _wake(self):
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass

    def _receive(self, link, forward, now):
        sock = link.front if forward else link.back
        try:
            data, src = sock.recvfrom(65536)
        except (BlockingIOError, ConnectionRefusedError):
            return
        self._relay(link, forward, data, src, now)

    def _receive_demux(self, shared, now):
        sock, by_client = shared
        try:
            data, src = sock.recvfrom(65536)
        except (BlockingIOError, ConnectionRefusedError):
            return
        link = by_client.get(src[0])
        if link is None:
            self.unknown_client += 1
            return
        self._relay(link, True, data, src, now)

    def _relay(self, link, forward, data, src, now):
        if forward:
            link.client = src
        elif link.client is None:
            return
        if link.is_down(now - self.t0):
            link.stats["dropped_down"] += 1
            return
        if link.p["loss"] > 0 and link.rng.random() < link.p["loss"]:
            link.stats["lost"] += 1
            return
        out = link.back if forward else link.front
        dest = link.target if forward else link.client
        heapq.heappush(self.queue, (now + link.one_way(forward), next(self.counter), out, data,
                                    dest, link, forward))

    def _send_due(self, now):
        while self.queue and self.queue[0][0] <= now:
            _, _, out, data, dest, link, forward = heapq.heappop(self.queue)
            try:
                out.sendto(data, dest)
                link.stats["fwd" if forward else "back"] += 1
            except OSError:
                pass

    def _run(self):
        while not self.stop_flag:
            now = time.monotonic()
            timeout = max(0.0, self.queue[0][0] - now) if self.queue else 0.5
            events = self.sel.select(timeout)
            now = time.monotonic()
            for key, _ in events:
                if key.data is None:
                    self.wake_r.recv(4096)
                    continue
                if key.data[0] == "demux":
                    self._receive_demux(key.data[1], now)
                    continue
                link, forward = key.data
                self._receive(link, forward, now)
            self._send_due(time.monotonic())


def _addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def main():
    ap = argparse.ArgumentParser(description="UDP link emulator for the fleet simulator")
    ap.add_argument("--link", action="append", required=True,
                    help="LISTEN_ADDR:PORT=TARGET_ADDR:PORT (repeatable)")
    ap.add_argument("--profile", default="wifi", choices=sorted(PROFILES))
    for k in ("delay_ms", "jitter_ms", "jitter_max_ms", "loss", "asym"):
        ap.add_argument("--" + k.replace("_", "-"), type=float)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    over = {k: getattr(a, k) for k in ("delay_ms", "jitter_ms", "jitter_max_ms", "loss", "asym")
            if getattr(a, k) is not None}
    emu = LinkEmu(a.seed)
    for i, spec in enumerate(a.link):
        listen, target = spec.split("=")
        emu.add("link%d" % i, _addr(listen), _addr(target), profile(a.profile, **over))
    emu.start()
    try:
        while True:
            time.sleep(10)
            for name, link in emu.links.items():
                print(name, link.stats, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
