#!/usr/bin/env python3
"""clgraph serve end to end: starts the server on a free loopback port, talks to it with the
official openai client and with curl, stops it with SIGTERM.

usage: serve_test.py CLGRAPH CASE      (CASE: full | auth | tiny | tune)
  full  SmolLM2 ($CLGRAPH_TEST_MODEL) on $CLGRAPH_DEVICE: chat and completions, streamed and
        not, against `clgraph run` at temperature 0; stop strings; eight concurrent clients
        get the texts one client gets; every bad request answered with its status; a client
        that disconnects mid-stream frees its sequence; SIGTERM finishes a running stream.
  auth  --api-key and a full queue (503).
  tiny  a synthesized tiny model (clgraph synth): completions streamed and not against
        `clgraph run` (for the slow devices).
  tune  the tiny model with --tune --parallel 2 in a fresh cache folder: the plan is measured
        and cached, the completion equals `clgraph run`'s; a second start without --tune
        reads the cached plan (the file stays as it was) and answers the same; `clgraph plan
        --parallel 2` prints that plan (measured choices, no new cache file).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import openai

CLGRAPH, CASE = sys.argv[1], sys.argv[2]
MODEL = os.environ.get("CLGRAPH_TEST_MODEL", "")
PARALLEL = os.environ.get("CLGRAPH_SERVE_PARALLEL", "1")  # --parallel of the full case
# A prompt whose greedy continuation counts on to max_tokens or the context (SmolLM2: no early
# end of text), so that a request still runs when the test acts on it.
COUNT = "1, 2, 3, 4, 5,"
failures = 0


def expect(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures += 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model, *args, env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.p = subprocess.Popen([CLGRAPH, "serve", "-m", model, "--port", str(self.port), "-q", *args],
                                  stdout=self.log, stderr=subprocess.STDOUT, env=env)
        for _ in range(600):
            if self.p.poll() is not None:
                break
            try:
                if http("GET", self.base + "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("the server did not come up:\n" + self.output())

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return -9


def http(method, url, body=None, headers=None, timeout=120):
    """(status, parsed JSON or text) of a request; error statuses are returned, not raised."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def curl(*args):
    r = subprocess.run(["curl", "-sS", "-N", *args], capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout


def sse_texts(out, chat):
    """The text pieces of a server-sent event stream, and whether it ended with [DONE]."""
    pieces, done, finish = [], False, None
    for line in out.splitlines():
        if not line.startswith("data: "):
            continue
        if line == "data: [DONE]":
            done = True
            continue
        ev = json.loads(line[6:])
        for c in ev.get("choices", []):
            pieces.append((c.get("delta", {}).get("content") if chat else c.get("text")) or "")
            finish = c.get("finish_reason") or finish
    return "".join(pieces), done, finish


def run_ref(model, prompt, n, chat, device_env=None):
    """What `clgraph run` generates at temperature 0 (the text after the echoed prompt)."""
    args = [CLGRAPH, "run", "-m", model, "-p", prompt, "-n", str(n), "--temp", "0", "-q"]
    if chat:
        args.append("--chat")
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = r.stdout[:-1] if r.stdout.endswith("\n") else r.stdout
    return out if chat else out[len(prompt):]


def check_health(s, what):
    st, j = http("GET", s.base + "/health")
    expect(st == 200 and j.get("status") == "ok", f"/health still answers after {what}")


def check_error(s, st, j, want, what):
    shaped = isinstance(j, dict) and isinstance(j.get("error"), dict) and \
        isinstance(j["error"].get("message"), str) and isinstance(j["error"].get("type"), str) and \
        j["error"].get("code") == want
    expect(st == want and shaped, f"{what}: {want} in OpenAI's error shape (got {st} {str(j)[:160]})")
    check_health(s, what)


def wait_idle(s, seconds):
    """True when /health reports no running or queued request within seconds."""
    t0 = time.time()
    while time.time() - t0 < seconds:
        st, j = http("GET", s.base + "/health")
        if st == 200 and j["slots_processing"] == 0 and j["requests_queued"] == 0:
            return True
        time.sleep(0.05)
    return False


def case_full():
    s = Server(MODEL, "--ctx", "512", "--parallel", PARALLEL)
    try:
        client = openai.OpenAI(base_url=s.base + "/v1", api_key="none", max_retries=0)
        st, j = http("GET", s.base + "/v1/models")
        expect(st == 200 and j["data"][0]["id"] == os.path.basename(MODEL), "/v1/models lists the model")
        models = client.models.list()
        expect([m.id for m in models.data] == [os.path.basename(MODEL)], "openai client lists the model")

        # Chat, not streamed, against clgraph run --chat.
        q = "What is the capital of France?"
        ref = run_ref(MODEL, q, 24, chat=True)
        r = client.chat.completions.create(model="x", messages=[{"role": "user", "content": q}],
                                           temperature=0, max_tokens=24)
        got = r.choices[0].message.content
        expect(got == ref, f"chat at temperature 0 equals clgraph run --chat ({got!r} vs {ref!r})")
        expect(r.choices[0].finish_reason in ("stop", "length") and r.usage.completion_tokens <= 24 and
               r.usage.prompt_tokens > 5 and r.usage.total_tokens == r.usage.prompt_tokens +
               r.usage.completion_tokens, f"chat usage {r.usage}")
        # Streamed, with usage.
        pieces, finish, usage = [], None, None
        for ch in client.chat.completions.create(model="x", messages=[{"role": "user", "content": q}],
                                                 temperature=0, max_tokens=24, stream=True,
                                                 stream_options={"include_usage": True}):
            if ch.usage:
                usage = ch.usage
            for c in ch.choices:
                pieces.append(c.delta.content or "")
                finish = c.finish_reason or finish
        expect("".join(pieces) == ref and finish == r.choices[0].finish_reason and
               usage and usage.completion_tokens == r.usage.completion_tokens,
               f"streamed chat gives the same text, finish reason and usage ({''.join(pieces)!r})")
        # The second request starts from the first one's cache: all but its last prompt token.
        cached = [u.prompt_tokens_details.cached_tokens if u and u.prompt_tokens_details else None
                  for u in (r.usage, usage)]
        expect(cached == [0, r.usage.prompt_tokens - 1],
               f"the repeated prompt is served from the cache (cached tokens {cached})")
        # A system message and a conversation go through the template.
        r2 = client.chat.completions.create(model="x", temperature=0, max_tokens=8, messages=[
            {"role": "system", "content": "You answer in one word."},
            {"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another one?"}])
        expect(len(r2.choices[0].message.content) > 0 and r2.usage.prompt_tokens > 20,
               f"a multi-turn chat with a system message answers ({r2.choices[0].message.content!r})")

        # Completions with curl, against clgraph run.
        p = "The capital of France is"
        ref_c = run_ref(MODEL, p, 16, chat=False)
        body = json.dumps({"prompt": p, "temperature": 0, "max_tokens": 16})
        rc, out = curl(s.base + "/v1/completions", "-d", body)
        j = json.loads(out)
        expect(rc == 0 and j["choices"][0]["text"] == ref_c and j["usage"]["completion_tokens"] == 16 and
               j["choices"][0]["finish_reason"] == "length" and j["object"] == "text_completion",
               f"curl completion equals clgraph run ({j['choices'][0]['text']!r} vs {ref_c!r})")
        body = json.dumps({"prompt": p, "temperature": 0, "max_tokens": 16, "stream": True})
        rc, out = curl(s.base + "/v1/completions", "-d", body)
        text, done, finish = sse_texts(out, chat=False)
        expect(rc == 0 and text == ref_c and done and finish == "length",
               f"curl streamed completion: same text, ends with data: [DONE] ({text!r})")
        rc, out = curl(s.base + "/v1/chat/completions", "-d",
                       json.dumps({"messages": [{"role": "user", "content": q}], "temperature": 0,
                                   "max_tokens": 24, "stream": True}))
        text, done, _ = sse_texts(out, chat=True)
        expect(rc == 0 and text == ref and done, "curl streamed chat: same text, data: [DONE]")
        r = client.completions.create(model="x", prompt=p, temperature=0, max_tokens=16)
        expect(r.choices[0].text == ref_c, "openai client completion equals clgraph run")

        # Stop strings end the text before them, streamed or not: the reference's third word
        # (with its leading space) as the stop string, wherever it first occurs.
        words = ref_c.split()
        stop = " " + words[2] if len(words) > 2 else None
        cut = ref_c.find(stop) if stop else -1
        if cut > 0:
            r = client.completions.create(model="x", prompt=p, temperature=0, max_tokens=16,
                                          stop=["zzz", stop])
            expect(r.choices[0].text == ref_c[:cut] and r.choices[0].finish_reason == "stop",
                   f"stop string {stop!r} cuts the text ({r.choices[0].text!r})")
            pieces = [c.choices[0].text for c in client.completions.create(
                model="x", prompt=p, temperature=0, max_tokens=16, stop=stop, stream=True)]
            expect("".join(pieces) == ref_c[:cut], f"streamed stop string cuts the text ({''.join(pieces)!r})")
        else:
            expect(False, f"the reference completion has a third word to stop at ({ref_c!r})")
        # Sampling with a seed repeats.
        a = client.completions.create(model="x", prompt=p, max_tokens=12, temperature=0.9, top_p=0.9,
                                      seed=42, extra_body={"top_k": 30, "min_p": 0.02})
        b = client.completions.create(model="x", prompt=p, max_tokens=12, temperature=0.9, top_p=0.9,
                                      seed=42, extra_body={"top_k": 30, "min_p": 0.02})
        expect(a.choices[0].text == b.choices[0].text, "the same seed samples the same text")

        # Eight concurrent clients get what one client gets (more than --parallel: some queue).
        prompts = ["Tell me about cats.", "What is 2+2?", "Name three fruits.", "Who wrote Hamlet?",
                   "Describe the sea.", "What is Python?", "Say hello in French.", "Why is the sky blue?"]

        cached = [0] * 8

        def ask(pr, i=None):
            r = client.chat.completions.create(model="x", messages=[{"role": "user", "content": pr}],
                                               temperature=0, max_tokens=20)
            if i is not None:
                cached[i] = r.usage.prompt_tokens_details.cached_tokens
            return r.choices[0].message.content
        single = [ask(pr) for pr in prompts]
        results, peak = [None] * 8, [0, 0]
        stop_poll = threading.Event()

        def poll():
            while not stop_poll.is_set():
                st_, j_ = http("GET", s.base + "/health")
                if st_ == 200:
                    peak[0] = max(peak[0], j_["slots_processing"])
                    peak[1] = max(peak[1], j_["requests_queued"])
                time.sleep(0.02)

        def worker(i):
            results[i] = ask(prompts[i], i)
        poller = threading.Thread(target=poll)
        poller.start()
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        stop_poll.set()
        poller.join()
        for i in range(8):
            expect(results[i] == single[i], f"concurrent client {i} gets the single-client text ({results[i]!r})")
        # The template's system prompt is shared: every request, on whichever sequence, starts
        # after it (sequences the single runs never used copy it from one that has it).
        expect(min(cached) >= 10, f"every concurrent request reused the shared prefix (cached {cached})")
        expect(peak[0] <= int(PARALLEL) and peak[0] >= 1, f"at most --parallel {PARALLEL} sequences ran (peak {peak[0]})")
        if int(PARALLEL) < 8:
            expect(peak[1] >= 1, f"requests beyond --parallel waited in the queue (peak {peak[1]} queued)")
        # A prompt goes back to the sequence that holds it: two new prompts one after the other
        # take different sequences (the second does not overwrite the first), so the first asked
        # again is served from its cache.
        if int(PARALLEL) >= 2:
            for pr in ("Count to five.", "Name a large animal.", "Count to five."):
                r = client.chat.completions.create(model="x", messages=[{"role": "user", "content": pr}],
                                                   temperature=0, max_tokens=4)
            d = r.usage.prompt_tokens_details
            expect(d and d.cached_tokens == r.usage.prompt_tokens - 1,
                   f"a prompt asked again after another one comes from its cache "
                   f"(cached {d and d.cached_tokens} of {r.usage.prompt_tokens})")

        # Bad requests: each answered with its status, the server still serving.
        chat = s.base + "/v1/chat/completions"
        msgs = [{"role": "user", "content": "Hi"}]
        st, j = http("POST", chat, b"{not json")
        check_error(s, st, j, 400, "bad JSON")
        for bad, what in (({"messages": "Hi"}, "messages not an array"),
                          ({"messages": msgs, "temperature": "hot"}, "temperature a string"),
                          ({"messages": msgs, "stream": "yes"}, "stream a string"),
                          ({"messages": msgs, "max_tokens": 1.5}, "max_tokens not whole"),
                          ({"messages": msgs, "stop": [1]}, "stop not strings"),
                          ({"messages": [{"role": "robot", "content": "Hi"}]}, "unknown role"),
                          ({"messages": [{"role": "user"}]}, "message without content"),
                          ({"messages": msgs, "temperature": 5}, "temperature out of range"),
                          ({"messages": msgs, "top_p": 2}, "top_p out of range"),
                          ({"messages": msgs, "max_tokens": 0}, "max_tokens 0"),
                          ({"messages": msgs, "n": 2}, "n = 2"),
                          ([1, 2], "body not an object")):
            st, j = http("POST", chat, bad)
            check_error(s, st, j, 400, what)
        st, j = http("POST", s.base + "/v1/completions", {"prompt": "hello " * 1000})
        check_error(s, st, j, 400, "a prompt longer than the context")
        expect("context" in j["error"]["message"], f"it says the context: {j['error']['message']}")
        try:
            client.chat.completions.create(model="x", messages=[{"role": "user", "content": "Hi " * 900}])
            expect(False, "openai client raises BadRequestError on a prompt over the context")
        except openai.BadRequestError as e:
            expect(e.status_code == 400, "openai client raises BadRequestError on a prompt over the context")
        st, j = http("GET", s.base + "/v1/nothing")
        check_error(s, st, j, 404, "an unknown path")
        st, j = http("GET", s.base + "/index.html")
        check_error(s, st, j, 404, "a file path (no files are served)")
        st, j = http("GET", chat)
        check_error(s, st, j, 405, "GET on a POST route")
        with tempfile.NamedTemporaryFile(suffix=".json") as big:
            big.write(b'{"messages": [], "x": "' + b"a" * (2 << 20) + b'"}')
            big.flush()
            # Declared with Content-Length (refused before the body is read) and chunked (read,
            # dropped past the limit, refused at its end).
            for extra in ([], ["-H", "Transfer-Encoding: chunked"]):
                rc, out = curl(chat, "-H", "Content-Type: application/json", *extra,
                               "--data-binary", "@" + big.name, "-w", "\n%{http_code}")
                body, _, code = out.rpartition("\n")
                try:
                    j = json.loads(body)
                except ValueError:
                    j = body
                check_error(s, int(code or 0), j, 413, "a 2 MiB body" + (" (chunked)" if extra else ""))
        rc, out = curl(chat, "-H", "Transfer-Encoding: chunked", "--data-binary", "@-", "-o", "-", "-w", "\n%{http_code}")
        expect(out.strip().endswith("400"), "an empty chunked body is bad JSON (400)")

        # A client that disconnects mid-stream frees its sequence at once.
        for stream in (True, False):
            sock = socket.create_connection(("127.0.0.1", s.port))
            body = json.dumps({"prompt": COUNT, "max_tokens": 400, "temperature": 0,
                               "stream": stream}).encode()
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            if stream:
                got = sock.recv(4096)
                expect(b"data: " in got or b"200" in got, "the stream started")
            else:
                time.sleep(0.5)
            sock.close()
            t0 = time.time()
            expect(wait_idle(s, 3), f"{'streaming' if stream else 'waiting'} client gone: its sequence is "
                   f"freed ({time.time() - t0:.2f} s)")
        r = client.completions.create(model="x", prompt=p, temperature=0, max_tokens=16)
        expect(r.choices[0].text == ref_c, "the server answers as before after the disconnects")

        # SIGTERM: the running stream finishes with [DONE], the server exits 0.
        out = {}

        def long_stream():
            out["r"] = curl(s.base + "/v1/completions", "-d", json.dumps(
                {"prompt": p, "temperature": 0, "max_tokens": 40, "stream": True}))
        t = threading.Thread(target=long_stream)
        t.start()
        time.sleep(0.5)
        rc = s.stop()
        t.join()
        text, done, finish = sse_texts(out["r"][1], chat=False)
        expect(done and finish in ("length", "stop") and len(text) > 0,
               f"SIGTERM lets the running stream finish ({text[:40]!r}..., {finish!r})")
        expect(rc == 0, f"the server exits 0 on SIGTERM (got {rc})")
        try:
            http("GET", s.base + "/health", timeout=5)
            expect(False, "no connections after shutdown")
        except OSError:
            expect(True, "no connections after shutdown")
    finally:
        rc = s.stop()
        if failures:
            print("---- server output ----\n" + s.output())


def case_auth():
    s = Server(MODEL, "--ctx", "256", "--api-key", "sekrit", "--queue", "1")
    try:
        body = {"prompt": "Hi", "max_tokens": 2, "temperature": 0}
        st, j = http("POST", s.base + "/v1/completions", body)
        check_error(s, st, j, 401, "no API key")
        st, j = http("POST", s.base + "/v1/completions", body, {"Authorization": "Bearer wrong"})
        check_error(s, st, j, 401, "a wrong API key")
        st, j = http("GET", s.base + "/v1/models")
        check_error(s, st, j, 401, "/v1/models without the key")
        try:
            openai.OpenAI(base_url=s.base + "/v1", api_key="nope", max_retries=0).models.list()
            expect(False, "openai client raises AuthenticationError with a wrong key")
        except openai.AuthenticationError:
            expect(True, "openai client raises AuthenticationError with a wrong key")
        client = openai.OpenAI(base_url=s.base + "/v1", api_key="sekrit", max_retries=0)
        r = client.completions.create(model="x", prompt="Hi", max_tokens=2, temperature=0)
        expect(r.usage.completion_tokens >= 1, "with the key: 200")
        # --parallel 1 --queue 1: one runs, one waits, a third gets 503 (long enough requests
        # that the first still runs 0.6 s later: a count that goes on to max_tokens, where
        # "Once" met its end of text after 151 tokens, ~1 s at 150 tokens/s)
        res = [None, None]

        def longreq(i):
            res[i] = http("POST", s.base + "/v1/completions", {"prompt": COUNT, "max_tokens": 200, "temperature": 0},
                          {"Authorization": "Bearer sekrit"})[0]
        ts = [threading.Thread(target=longreq, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
            time.sleep(0.3)
        st, j = http("POST", s.base + "/v1/completions", body, {"Authorization": "Bearer sekrit"})
        check_error(s, st, j, 503, "a full queue")
        for t in ts:
            t.join()
        expect(res == [200, 200], f"the running and the queued request complete ({res})")
        # SIGTERM, then SIGINT: the running stream is cut (an error event, then [DONE]), the
        # queued request gets 503, and the server exits 0 at once.
        outs = {}

        def stream(i, tokens):
            outs[i] = curl(s.base + "/v1/completions", "-H", "Authorization: Bearer sekrit", "-w", "\n%{http_code}",
                           "-d", json.dumps({"prompt": COUNT, "max_tokens": tokens, "temperature": 0, "stream": i == 0}))
        ts = [threading.Thread(target=stream, args=(i, 400)) for i in range(2)]
        for t in ts:
            t.start()
            time.sleep(0.3)
        s.p.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # the count runs to the context's end: 243 tokens, ~1.6 s at 150 tokens/s
        t0 = time.time()
        s.p.send_signal(signal.SIGINT)
        rc = s.p.wait(30)
        for t in ts:
            t.join()
        expect(rc == 0 and time.time() - t0 < 5, f"a second signal cuts and exits 0 ({rc}, {time.time() - t0:.1f} s)")
        out0 = outs[0][1]
        expect('"error"' in out0 and "data: [DONE]" in out0, f"the cut stream ends with an error event and [DONE] ({out0[-160:]!r})")
        expect(outs[1][1].endswith("503"), f"the queued request gets 503 ({outs[1][1][-120:]!r})")
    finally:
        rc = s.stop()
        expect(rc == 0, f"exit 0 on SIGTERM (got {rc})")
        if failures:
            print("---- server output ----\n" + s.output())


def tiny_model(d):
    """A synthesized tiny model in folder d (clgraph synth), its path."""
    model = os.path.join(d, "tiny.gguf")
    r = subprocess.run([CLGRAPH, "synth", "--shape", "tiny", "--type", "q8_0", "-q", model],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return model


def case_tiny():
    with tempfile.TemporaryDirectory() as d:
        model = tiny_model(d)
        p = "Hello world"
        ref = run_ref(model, p, 4, chat=False)
        s = Server(model, "--ctx", "64")
        try:
            rc, out = curl(s.base + "/v1/completions", "-d", json.dumps({"prompt": p, "temperature": 0, "max_tokens": 4}))
            j = json.loads(out)
            expect(j["choices"][0]["text"] == ref, f"completion equals clgraph run ({j['choices'][0]['text']!r} vs {ref!r})")
            client = openai.OpenAI(base_url=s.base + "/v1", api_key="none", max_retries=0)
            text = "".join(c.choices[0].text for c in client.completions.create(
                model="x", prompt=p, temperature=0, max_tokens=4, stream=True))
            expect(text == ref, "streamed completion (openai client) equals clgraph run")
            st, j = http("POST", s.base + "/v1/completions", b"[")
            check_error(s, st, j, 400, "bad JSON")
        finally:
            rc = s.stop()
            expect(rc == 0, f"exit 0 on SIGTERM (got {rc})")
            if failures:
                print("---- server output ----\n" + s.output())


def case_tune():
    with tempfile.TemporaryDirectory() as d:
        model = tiny_model(d)
        p = "Hello world"
        ref = run_ref(model, p, 6, chat=False)
        env = dict(os.environ, CLGRAPH_CACHE_DIR=os.path.join(d, "cache"))
        plans = []
        for tune in (["--tune"], []):
            s = Server(model, "--ctx", "64", "--parallel", "2", *tune, env=env)
            try:
                rc, out = curl(s.base + "/v1/completions",
                               "-d", json.dumps({"prompt": p, "temperature": 0, "max_tokens": 6}))
                text = json.loads(out)["choices"][0]["text"]
                what = "tuned" if tune else "from the cached plan"
                expect(text == ref, f"{what}: the completion equals clgraph run ({text!r} vs {ref!r})")
                cache = os.path.join(d, "cache")
                now = sorted((f, os.stat(os.path.join(cache, f)).st_mtime_ns)
                             for f in os.listdir(cache) if f.endswith(".plan")) if os.path.isdir(cache) else []
                if tune:
                    expect(len(now) >= 1, f"--tune cached its plan ({now})")
                else:
                    expect(now == plans, f"without --tune the cached plan is read, not rewritten ({now} vs {plans})")
                plans = now
            finally:
                rc = s.stop()
                expect(rc == 0, f"exit 0 on SIGTERM (got {rc})")
                if failures:
                    print("---- server output ----\n" + s.output())
        r = subprocess.run([CLGRAPH, "plan", "-m", model, "--ctx", "64", "--parallel", "2", "--json"],
                           capture_output=True, text=True, env=env, timeout=600)
        expect(r.returncode == 0, f"plan --parallel 2 exits 0 ({r.stderr.strip()[-300:]})")
        tasks = [t for pl in json.loads(r.stdout)["plans"] for g in pl["graphs"] for t in g["tasks"]
                 if t["task"] in ("qkv", "attention")] if r.returncode == 0 else []
        expect(tasks and all(t["tuned"] for t in tasks),
               f"plan --parallel 2 shows the server's measured choices ({[(t['task'], t['tuned']) for t in tasks]})")
        now = sorted((f, os.stat(os.path.join(d, "cache", f)).st_mtime_ns)
                     for f in os.listdir(os.path.join(d, "cache")) if f.endswith(".plan"))
        expect(now == plans, f"plan --parallel 2 read the server's cached plan ({now} vs {plans})")


{"full": case_full, "auth": case_auth, "tiny": case_tiny, "tune": case_tune}[CASE]()
print(f"{failures} failure(s)")
sys.exit(1 if failures else 0)
