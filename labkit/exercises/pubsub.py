"""Exercises for notebook 08, publish/subscribe: `from labkit.exercises import pubsub as ex`.

The checks publish messages themselves and read what your subscribers received: each check first
subscribes your subscriber to a one-off channel and waits for the confirmation, which proves the
server has processed your SUBSCRIBE before anything is published. On a cluster, messages published
on different channels reach a subscriber through different nodes, in no guaranteed order, so the
checks wait for every message they expect (and a moment more for the ones they do not).

Example::

    ex.use(r)
    p = r.pubsub()
    p.psubscribe("sensor:*")
    ex.q1.check(p)
"""

from __future__ import annotations

import time
import uuid
from textwrap import dedent
from typing import Any

from .core import Problem, Wrong, as_text, call_learner, expect, expect_callable, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "08_pubsub_and_chat"

_WAIT_S = 3.0  # the longest a check waits for a message that should arrive (it returns as soon as all have)
_GRACE_S = 0.3  # how long it then listens for messages that should not arrive


def _is_subscriber(value: Any) -> bool:
    return all(hasattr(value, name) for name in ("get_message", "subscribe", "unsubscribe", "subscribed"))


def _synchronise(subscriber: Any, who: str) -> None:
    """Subscribe to a one-off channel and wait for its confirmation: the server has then processed
    every earlier SUBSCRIBE/PSUBSCRIBE on that connection, so nothing published next is missed."""
    channel = f"check:sync:{uuid.uuid4().hex[:8]}"
    subscriber.subscribe(channel)
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        message = subscriber.get_message(timeout=max(deadline - time.monotonic(), 0.01))
        if message is not None and message.get("type") == "subscribe" and as_text(message.get("channel")) == channel:
            subscriber.unsubscribe(channel)
            return
    expect(False, f"{who} did not confirm a subscription within {_WAIT_S:g} s: is another thread (run_in_thread) reading it? Pass a subscriber no thread reads")


def _collect(subscriber: Any, expected: set[str]) -> list[tuple[str, str]]:
    """(channel, data) of the messages received until every `expected` data has come (or the wait ran
    out), and for a short grace period after, to catch messages that should not come."""
    received: list[tuple[str, str]] = []
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        if expected <= {data for _, data in received}:
            deadline = min(deadline, time.monotonic() + _GRACE_S)
        message = subscriber.get_message(timeout=max(min(deadline - time.monotonic(), 0.1), 0.01))
        if message is not None and message.get("type") in ("message", "pmessage"):
            received.append((as_text(message["channel"]), as_text(message["data"])))
    return received


class SensorPattern(Problem):
    title = "One subscriber for every sensor channel"
    takes_answer = True
    hints = (
        "SUBSCRIBE takes exact channel names; PSUBSCRIBE takes glob-style patterns such as news:*.",
        "A pattern also covers the sensor channels that do not exist yet: the check publishes on a new one.",
        "p = r.pubsub(); p.psubscribe('sensor:*')",
    )
    solution_code = dedent("""
        p = r.pubsub()
        p.psubscribe("sensor:*")
    """)
    wrong_answers = (
        Wrong(dedent("""
            p = r.pubsub()
            p.subscribe("sensor:*")
        """), "literally named 'sensor:*'", why="SUBSCRIBE with a pattern"),
        Wrong(dedent("""
            p = r.pubsub()
            p.psubscribe("*")
        """), "door:front", why="a pattern that matches every channel"),
        Wrong(dedent("""
            p = r.pubsub()
            p.subscribe("sensor:kitchen", "sensor:garage")
        """), "created later", why="the two channels seen above, by name"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        expect(_is_subscriber(answer), f"pass a PubSub object (p = r.pubsub()), not a {type(answer).__name__}")
        expect(answer.subscribed, "your PubSub object is not subscribed to anything yet")
        _synchronise(answer, "your subscriber")
        token = uuid.uuid4().hex[:8]
        new_sensor = f"sensor:attic-{token}"
        sent = [("sensor:kitchen", f"21.5C {token}"), ("door:front", f"open {token}"), (new_sensor, f"17.0C {token}"), ("sensor:garage", f"8.0C {token}")]
        for channel, data in sent:
            r.publish(channel, data)
        received = _collect(answer, {data for channel, data in sent if channel.startswith("sensor:")})
        channels = [channel for channel, data in received if data.endswith(token)]
        if not channels:
            literal = "sensor:*" in {as_text(name) for name in getattr(answer, "channels", {})}
            expect(not literal, "SUBSCRIBE 'sensor:*' listens to one channel literally named 'sensor:*'; use PSUBSCRIBE for a pattern")
            expect(False, "your subscriber received none of the messages published to sensor:kitchen, sensor:garage and a new sensor channel")
        expect("door:front" not in channels, "your subscriber also received the message on door:front: the pattern should match sensor channels only")
        for channel in ("sensor:kitchen", "sensor:garage"):
            expect(channel in channels, f"your subscriber did not receive the message published to {channel}")
        expect(new_sensor in channels, f"your subscriber missed the message on {new_sensor}, a sensor channel created later: "
                                       "subscribing to channels by name only covers the ones you know; a pattern (PSUBSCRIBE) covers them all")
        return "one PSUBSCRIBE covers every sensor channel, including ones created later."


class FanOut(Problem):
    title = "Fan out to three subscribers"
    takes_answer = True
    hints = (
        "Each subscriber needs its own PubSub object (its own connection); every one of them gets a copy of each message.",
        "subscribers = [r.pubsub() for _ in range(3)], then subscribe each of them to 'alerts'",
    )
    solution_code = dedent("""
        subscribers = [r.pubsub() for _ in range(3)]
        for subscriber in subscribers:
            subscriber.subscribe("alerts")
    """)
    wrong_answers = (
        Wrong(dedent("""
            p = r.pubsub()
            p.subscribe("alerts")
            subscribers = [p, p, p]
        """), "the same PubSub object", why="one connection passed three times"),
        Wrong(dedent("""
            subscribers = [r.pubsub() for _ in range(2)]
            for subscriber in subscribers:
                subscriber.subscribe("alerts")
        """), "you passed 2 subscribers", why="one short"),
        Wrong(dedent("""
            subscribers = [r.pubsub() for _ in range(3)]
            for subscriber in subscribers:
                subscriber.subscribe("alert")
        """), "subscribe it to 'alerts'", why="another channel (near miss)"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        expect(isinstance(answer, (list, tuple)), f"pass a list of three PubSub objects, not a {type(answer).__name__}")
        expect(len(answer) == 3, f"you passed {len(answer)} subscribers; the exercise asks for 3")
        for number, subscriber in enumerate(answer, 1):
            expect(_is_subscriber(subscriber), f"subscriber {number} is a {type(subscriber).__name__}, not a PubSub object (r.pubsub())")
        expect(len({id(subscriber) for subscriber in answer}) == 3, "you passed the same PubSub object more than once: a subscriber is one connection, so make three")
        for number, subscriber in enumerate(answer, 1):
            expect(subscriber.subscribed, f"subscriber {number} is not subscribed to anything")
            _synchronise(subscriber, f"subscriber {number}")
        data = f"disk almost full {uuid.uuid4().hex[:8]}"
        r.publish("alerts", data)
        for number, subscriber in enumerate(answer, 1):
            got = [message for message in _collect(subscriber, {data}) if message[1] == data]
            expect(got, f"subscriber {number} did not receive the message published to 'alerts': subscribe it to 'alerts'")
        return "one PUBLISH reached all three subscribers, each with its own copy."


class ChatRoom(Problem):
    title = "A chat room that remembers its last 50 lines"
    takes_answer = True
    hints = (
        "Publishing reaches only those listening now; a list kept next to the channel lets late joiners catch up.",
        "In send: PUBLISH the line on chat:<room>, RPUSH it on chat:<room>:history, then LTRIM that list to its last 50 entries (-50 to -1).",
        "def send(room, user, text):\n"
        "    line = f'{user}: {text}'\n"
        "    r.publish(f'chat:{room}', line)\n"
        "    r.rpush(f'chat:{room}:history', line)\n"
        "    r.ltrim(f'chat:{room}:history', -50, -1)",
    )
    solution_code = dedent("""
        def send(room, user, text):
            line = f"{user}: {text}"
            r.publish(f"chat:{room}", line)
            r.rpush(f"chat:{room}:history", line)
            r.ltrim(f"chat:{room}:history", -50, -1)
    """)
    wrong_answers = (
        Wrong(dedent("""
            def send(room, user, text):
                r.publish(f"chat:{room}", f"{user}: {text}")
        """), "kept no history", why="publishes only"),
        Wrong(dedent("""
            def send(room, user, text):
                line = f"{user}: {text}"
                r.publish(f"chat:{room}", line)
                r.rpush(f"chat:{room}:history", line)
        """), "cap it at the last 50", why="a history that grows forever"),
        Wrong(dedent("""
            def send(room, user, text):
                line = f"{user}: {text}"
                r.publish(f"chat:{room}", line)
                r.lpush(f"chat:{room}:history", line)
                r.ltrim(f"chat:{room}:history", -50, -1)
        """), "the 50 newest lines", why="LPUSH with the RPUSH trim: keeps the oldest"),
        Wrong(dedent("""
            def send(room, user, text):
                line = f"{user}: {text}"
                r.publish(f"chat:{room}", line)
                r.rpush(f"chat:{room}:history", line)
                r.ltrim(f"chat:{room}:history", -49, -1)
        """), "holds 49", why="off by one: 49 lines"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        function = expect_callable(answer, "send")
        room = f"check-{uuid.uuid4().hex[:6]}"
        history = f"chat:{room}:history"
        listener = r.pubsub()
        try:
            listener.subscribe(f"chat:{room}")
            _synchronise(listener, "the check's own subscriber")
            call_learner(function, room, "ada", "hello")
            got = [data for _, data in _collect(listener, {"ada: hello"})]
            expect("ada: hello" in got, f"send({room!r}, 'ada', 'hello') published {got or 'nothing'} on chat:{room}; expected the line 'ada: hello'")
            expect(r.exists(history), f"send() kept no history: {history} does not exist, so a user who joins later sees nothing")
            kind = as_text(r.type(history))
            expect(kind == "list", f"{history} holds a {kind}; keep the history in a list")
            expect("ada: hello" in [as_text(line) for line in r.lrange(history, 0, -1)], f"'ada: hello' is not in {history}")
            for number in range(55):
                call_learner(function, room, "bot", f"m{number}")
            length = r.llen(history)
            expect(length <= 50, f"after 56 messages {history} holds {length} lines: cap it at the last 50 with LTRIM")
            expect(length == 50, f"{history} holds {length} lines after 56 messages; keep the last 50")
            lines = [as_text(line) for line in r.lrange(history, 0, -1)]
            expect("bot: m54" in lines and "bot: m5" in lines, f"{history} does not hold the 50 newest lines (the last 'bot: m5' to 'bot: m54'): "
                                                               "trim away the oldest end of the list")
        finally:
            listener.close()
            r.delete(history)
        return "live lines go to subscribers; the capped list serves anyone who was offline."


q1 = SensorPattern()
q2 = FanOut()
q3 = ChatRoom()
