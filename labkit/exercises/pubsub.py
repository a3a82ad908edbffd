"""Exercises for notebook 08, publish/subscribe: `from labkit.exercises import pubsub as ex`.

The checks publish messages themselves and read what your subscribers received, so they are
deterministic: each check first subscribes your subscriber to a one-off channel and waits for the
confirmation, which proves the server has processed your SUBSCRIBE before anything is published.

Example::

    ex.use(r)
    p = r.pubsub()
    p.psubscribe("sensor:*")
    ex.q1.check(p)
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from .core import Problem, as_text, call_learner, expect, use

__all__ = ["NOTEBOOK", "q1", "q2", "q3", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "08_pubsub_and_chat"

_WAIT_S = 3.0  # the longest a check waits for a message that should arrive (it returns as soon as it does)



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


def _collect(subscriber: Any, until: str) -> list[tuple[str, str]]:
    """(channel, data) of every message up to the one whose data is `until`, or until the wait runs out."""
    received = []
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        message = subscriber.get_message(timeout=max(deadline - time.monotonic(), 0.01))
        if message is None or message.get("type") not in ("message", "pmessage"):
            continue
        received.append((as_text(message["channel"]), as_text(message["data"])))
        if received[-1][1] == until:
            break
    return received



class SensorPattern(Problem):
    title = "One subscriber for every sensor channel"
    takes_answer = True
    hints = (
        "SUBSCRIBE takes exact channel names; PSUBSCRIBE takes glob-style patterns such as news:*.",
        "p = r.pubsub(); p.psubscribe('sensor:*'); q1.check(p)",
    )
    solution_code = """
p = r.pubsub()
p.psubscribe("sensor:*")
answer = p
"""
    wrong_code = """
p = r.pubsub()
p.subscribe("sensor:*")
answer = p
"""
    wrong_message = "literally named 'sensor:*'"

    def verify(self, r: Any, answer: Any) -> str:
        expect(_is_subscriber(answer), f"pass a PubSub object (p = r.pubsub()), not a {type(answer).__name__}")
        expect(answer.subscribed, "your PubSub object is not subscribed to anything yet")
        _synchronise(answer, "your subscriber")
        token = uuid.uuid4().hex[:8]
        sent = [("sensor:kitchen", f"21.5C {token}"), ("door:front", f"open {token}"), ("sensor:garage", f"8.0C {token}")]
        for channel, data in sent:
            r.publish(channel, data)
        received = _collect(answer, until=sent[-1][1])
        channels = [channel for channel, data in received if data.endswith(token)]
        if not channels:
            literal = "sensor:*" in {as_text(name) for name in getattr(answer, "channels", {})}
            expect(not literal, "SUBSCRIBE 'sensor:*' listens to one channel literally named 'sensor:*'; use PSUBSCRIBE for a pattern")
            expect(False, "your subscriber received none of the messages published to sensor:kitchen and sensor:garage")
        expect("door:front" not in channels, "your subscriber also received the message on door:front: the pattern should match sensor channels only")
        for channel in ("sensor:kitchen", "sensor:garage"):
            expect(channel in channels, f"your subscriber did not receive the message published to {channel}")
        return "one PSUBSCRIBE covers every sensor channel, including ones created later."


class FanOut(Problem):
    title = "Fan out to three subscribers"
    takes_answer = True
    hints = (
        "Each subscriber needs its own PubSub object (its own connection); every one of them gets a copy of each message.",
        "subscribers = [r.pubsub() for _ in range(3)]; for s in subscribers: s.subscribe('alerts')",
    )
    solution_code = """
subscribers = [r.pubsub() for _ in range(3)]
for subscriber in subscribers:
    subscriber.subscribe("alerts")
answer = subscribers
"""
    wrong_code = """
p = r.pubsub()
p.subscribe("alerts")
answer = [p, p, p]
"""
    wrong_message = "the same PubSub object"

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
        receivers = r.publish("alerts", data)
        for number, subscriber in enumerate(answer, 1):
            got = [message for message in _collect(subscriber, until=data) if message[1] == data]
            expect(got, f"subscriber {number} did not receive the message published to 'alerts': subscribe it to 'alerts'")
        return f"one PUBLISH reached {receivers} subscribers, each with its own copy."


class ChatRoom(Problem):
    title = "A chat room that remembers its last 50 lines"
    takes_answer = True
    hints = (
        "Publishing reaches only those listening now; a list kept next to the channel lets late joiners catch up.",
        "In send: r.publish(f'chat:{room}', line); r.rpush(f'chat:{room}:history', line); r.ltrim(f'chat:{room}:history', -50, -1)",
        "def send(room, user, text):\n"
        "    line = f'{user}: {text}'\n"
        "    r.publish(f'chat:{room}', line)\n"
        "    r.rpush(f'chat:{room}:history', line)\n"
        "    r.ltrim(f'chat:{room}:history', -50, -1)",
    )
    solution_code = """
def send(room, user, text):
    line = f"{user}: {text}"
    r.publish(f"chat:{room}", line)
    r.rpush(f"chat:{room}:history", line)
    r.ltrim(f"chat:{room}:history", -50, -1)

answer = send
"""
    wrong_code = """
def send(room, user, text):
    r.publish(f"chat:{room}", f"{user}: {text}")

answer = send
"""
    wrong_message = "history"

    def verify(self, r: Any, answer: Any) -> str:
        expect(callable(answer), "pass your function itself: q3.check(send)")
        room = f"check-{uuid.uuid4().hex[:6]}"
        history = f"chat:{room}:history"
        listener = r.pubsub()
        try:
            listener.subscribe(f"chat:{room}")
            _synchronise(listener, "the check's own subscriber")
            call_learner(answer, room, "ada", "hello")
            got = [data for _, data in _collect(listener, until="ada: hello")]
            expect("ada: hello" in got, f"send({room!r}, 'ada', 'hello') published {got or 'nothing'} on chat:{room}; expected the line 'ada: hello'")
            expect(r.exists(history), f"send() kept no history: {history} does not exist, so a user who joins later sees nothing")
            kind = as_text(r.type(history))
            expect(kind == "list", f"{history} holds a {kind}; keep the history in a list")
            expect("ada: hello" in [as_text(line) for line in r.lrange(history, 0, -1)], f"'ada: hello' is not in {history}")
            for number in range(55):
                call_learner(answer, room, "bot", f"m{number}")
            length = r.llen(history)
            expect(length <= 50, f"after 56 messages {history} holds {length} lines: cap it at the last 50 with LTRIM")
            lines = [as_text(line) for line in r.lrange(history, 0, -1)]
            expect(length == 50 and "bot: m54" in lines and "bot: m4" not in lines, f"{history} should hold exactly the 50 newest lines; it holds {length}, newest kept: {'bot: m54' in lines}")
        finally:
            listener.close()
            r.delete(history)
        return "live lines go to subscribers; the capped list serves anyone who was offline."


q1 = SensorPattern()
q2 = FanOut()
q3 = ChatRoom()
