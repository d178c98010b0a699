"""The console adapter: a terminal (or a pipe) that simulates people, DMs and channels."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import re
import shlex
import sys
import threading
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from bot.commands import COMMAND_NAMES, MemberCommands
from bot.core import ByokCore
from bot.domain import HistoryTurn, IncomingMessage, Member
from bot.keys import redact_keys

PLATFORM = "console"
BOT_MENTION = "@bot"

CONSOLE_HELP = "\n".join(
    [
        "Console: `/as NAME` be someone else, `/dm` talk privately,",
        "`/channel NAME` join a channel, `@bot QUESTION` asks there, plain text asks in a DM,",
        "`/quit` or end of input exits.",
    ]
)
_MEMBER_COMMANDS = set(COMMAND_NAMES)
# Control characters (other than line breaks and tabs) would drive the terminal: cursor moves,
# colours, a rewritten title bar. Whatever a member or a model wrote is shown without them.
_TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """What the terminal may show: no control characters, and no key, whoever typed it
    (`/as`, `/channel` and unknown commands repeat what was typed)."""
    return _TERMINAL_CONTROLS.sub("\ufffd", redact_keys(text))


def decode_line(raw: bytes) -> str:
    """One input line as text: invalid UTF-8 becomes U+FFFD instead of an error (or of lone
    surrogates, which the database would refuse)."""
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


class ConsoleSink:
    """Writes the streamed answer to the terminal as it arrives."""

    def __init__(self, *, out: TextIO, member: Member) -> None:
        self._out = out
        self._member = member
        self._parts: list[str] = []
        # The answer's line was ended early, by a private notice printed after it.
        self._line_ended = False

    @property
    def text(self) -> str:
        return "".join(self._parts)

    async def start(self) -> None:
        return None

    async def append(self, text: str) -> None:
        if not self._parts:
            self._out.write("bot: ")
        self._parts.append(text)
        self._out.write(printable(text))
        self._out.flush()

    async def finish(self) -> None:
        self._end_answer_line()
        self._out.flush()

    async def private(self, text: str) -> None:
        # A notice after a cut-off answer starts on its own line.
        self._end_answer_line()
        self._out.write(f"[private to {printable(self._member.user)}] {printable(text)}\n")
        self._out.flush()

    def _end_answer_line(self) -> None:
        if self._parts and not self._line_ended:
            self._out.write("\n")
            self._line_ended = True

    async def delete_original(self) -> bool:
        # The console keeps no channel log for others to read, so dropping the line deletes it.
        self._out.write("[console] the message was removed from the channel\n")
        return True


@dataclass
class ConsoleState:
    user: str = "you"
    channel: str | None = None
    histories: dict[tuple[str, str], list[HistoryTurn]] = field(default_factory=dict)

    @property
    def place(self) -> str:
        return f"#{self.channel}" if self.channel else "DM"

    def history_key(self) -> tuple[str, str]:
        # A channel is one shared thread; a DM is private to its member.
        return (f"#{self.channel}", "") if self.channel else ("dm", self.user)


class ConsoleAdapter:
    name = "console"

    def __init__(
        self,
        *,
        core: ByokCore,
        commands: MemberCommands,
        stdin: BinaryIO | None = None,
        stdout: TextIO | None = None,
        user: str = "you",
    ) -> None:
        self._core = core
        self._commands = commands
        # Bytes, decoded here: a terminal or pipe may send anything, valid UTF-8 or not.
        self._in = stdin or sys.stdin.buffer
        self._out = stdout or sys.stdout
        if isinstance(self._out, io.TextIOWrapper):
            # A terminal that cannot show a character gets `?`, not a crash.
            self._out.reconfigure(errors="replace")
        self._state = ConsoleState(user=user)

    @property
    def ready(self) -> bool:
        # Nothing to connect to: a running console takes input.
        return True

    def _member(self) -> Member:
        return Member(PLATFORM, "", self._state.user)

    def _prompt(self) -> None:
        if self._in.isatty():
            self._out.write(f"[{printable(self._state.place)} as {printable(self._state.user)}] > ")
            self._out.flush()

    async def run(self) -> None:
        self._out.write(
            f"byok-bot console: you are `{self._state.user}` in a DM. Type /help for commands.\n"
        )
        self._out.flush()
        lines = self._read_lines()
        while True:
            self._prompt()
            raw = await lines.get()
            if not raw:
                return
            if await self.handle_line(decode_line(raw)) is False:
                return

    def _read_lines(self) -> asyncio.Queue[bytes]:
        """Lines from stdin, read by a daemon thread: a blocked read must not keep the
        process alive after a stop signal, as an executor's thread would."""
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)

        def read() -> None:
            while True:
                raw = self._in.readline()
                future = asyncio.run_coroutine_threadsafe(lines.put(raw), loop)
                try:
                    future.result()
                except (RuntimeError, concurrent.futures.CancelledError):
                    return  # the loop has stopped
                if not raw:
                    return

        threading.Thread(target=read, name="console-stdin", daemon=True).start()
        return lines

    async def close(self, *, grace: float = 0.0) -> None:
        return None

    async def handle_line(self, line: str) -> bool:
        """Act on one line; False means the member asked to quit."""
        text = line.strip()
        if not text:
            return True
        if text.startswith("/"):
            return await self._console_command(text)
        await self._message(text)
        return True

    async def _console_command(self, text: str) -> bool:
        name, _, argument = text[1:].partition(" ")
        name = name.lower()
        argument = argument.strip()
        if name in ("quit", "exit"):
            return False
        if name == "as":
            self._say(self._switch_user(argument))
        elif name == "dm":
            self._state.channel = None
            self._say(f"Now in a DM with the bot, as {self._state.user}.")
        elif name == "channel":
            self._say(self._switch_channel(argument))
        elif name in _MEMBER_COMMANDS:
            in_channel = self._state.channel is not None
            reply = await self._commands.run(
                self._member(),
                name,
                argument,
                server="console" if in_channel else "",
                channel=self._state.channel or "",
            )
            extra = f"\n{CONSOLE_HELP}" if name == "help" else ""
            await ConsoleSink(out=self._out, member=self._member()).private(reply.text + extra)
        else:
            shown = name if len(name) <= 40 else name[:40] + "…"
            self._say(f"Unknown command /{shown}. Type /help for the list.")
        return True

    def _switch_user(self, argument: str) -> str:
        try:
            names = shlex.split(argument) if argument else []
        except ValueError:
            # An unclosed quote or a trailing backslash.
            names = []
        if len(names) != 1 or not names[0].strip() or len(names[0]) > 80:
            return "Usage: /as NAME (one name, up to 80 characters; quote it if it has spaces)"
        self._state.user = names[0]
        return f"You are now {self._state.user} ({self._state.place})."

    def _switch_channel(self, argument: str) -> str:
        channel = argument.lstrip("#").strip()
        if not channel or any(ch.isspace() for ch in channel) or len(channel) > 80:
            return "Usage: /channel NAME (one word, up to 80 characters)"
        self._state.channel = channel
        return f"Now in #{channel}, as {self._state.user}. Ask with `{BOT_MENTION} QUESTION`."

    def _say(self, text: str) -> None:
        self._out.write(f"[console] {printable(text)}\n")
        self._out.flush()

    async def _message(self, text: str) -> None:
        in_channel = self._state.channel is not None
        addressed = not in_channel or text.lower().startswith(BOT_MENTION)
        question = text[len(BOT_MENTION) :].strip() if in_channel and addressed else text
        history = self._state.histories.setdefault(self._state.history_key(), [])
        member = self._member()
        sink = ConsoleSink(out=self._out, member=member)
        message = IncomingMessage(
            member=member,
            text=question,
            is_private=not in_channel,
            addressed=addressed,
            channel=self._state.channel or "",
            server="console" if in_channel else "",
            history=tuple(history),
            author_name=self._state.user,
        )
        turn = await self._core.handle_message(message, sink)
        if turn is not None and sink.text:
            history.append(HistoryTurn("user", question, author=self._state.user))
            history.append(HistoryTurn("assistant", sink.text))
