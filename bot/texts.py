"""Every sentence a member reads, in one place, the same on every platform."""

from __future__ import annotations

from datetime import datetime

from bot.ports import FailureKind
from bot.providers import OPENAI_BILLING_PAGE, OPENAI_KEYS_PAGE, Provider


def how_to_set_key(provider: Provider | None = None, *, several: bool = False) -> str:
    """For a member with no key for `provider` (with one provider listed: as it always read)."""
    name = provider.name if provider is not None else "OpenAI"
    command = f"`/setkey {provider.id}`" if provider is not None and several else "`/setkey`"
    where = (
        f" Create one at {provider.keys_page}."
        if provider is not None and several and provider.keys_page
        else ""
    )
    return (
        f"I answer with your own {name} API key, and I don't have one for you yet. "
        f"Use {command} (a private form), or send me your key in a direct message.{where} "
        "Never paste it in a channel."
    )


HOW_TO_SET_KEY = how_to_set_key()


def how_to_set_any_key(names: list[str]) -> str:
    """For a member with no key at all, when several providers are listed."""
    return (
        f"I answer with your own API key (from {', '.join(names)}), and I don't have one for "
        "you yet. Use `/setkey` (a private form), or send me your key in a direct message. "
        "Never paste it in a channel."
    )


HELP = "\n".join(
    [
        "I answer with *your own* OpenAI API key, so you pay only for your own questions.",
        "• `/setkey` — add or replace your key (privately; it is checked for free, then sealed)",
        "• `/mykey` — see your key (masked), when it was set and last used, and your model",
        "• `/model` — list the models your key can use; `/model NAME` picks one",
        "• `/usage` — your tokens and estimated cost today and this month",
        "• `/limit` — cap your own daily or monthly spending (`/limit daily 2 usd`)",
        "• `/instructions` — your own instructions for answers to you (only you see them)",
        "• `/removekey` — delete your key",
        "• `/forget` — delete everything I store about you",
        "Mention me in a channel to ask a question; in a DM just write.",
        "Never paste your key in a channel: anyone there could use it.",
    ]
)


def help_with_providers(providers: list[Provider]) -> str:
    """HELP when several providers are listed: which, and how to name one."""
    listed = ", ".join(f"`{provider.id}` ({provider.name})" for provider in providers)
    return (
        HELP.replace("*your own* OpenAI API key", "*your own* API key")
        + f"\nProviders here: {listed}. Name one: `/setkey PROVIDER KEY`, "
        "`/removekey PROVIDER`, `/model PROVIDER/MODEL`."
    )


KEY_UNREACHABLE = (
    "I couldn't reach the provider to check your key, so I didn't save it. "
    "Please try again in a minute."
)
KEY_REJECTED = (
    "The provider rejected that key, so I didn't save it. "
    "Check you copied all of it, or create a new one."
)
KEY_REMOVED = "Your key is deleted. Use `/setkey` to add one again."
NO_KEY_TO_REMOVE = "You have no key stored, so there was nothing to remove."
FORGOTTEN = "Everything I stored about you is deleted: your key, settings, caps, usage and history."
CHANNEL_NOT_ALLOWED = "I'm not enabled in that channel. Ask a server admin, or DM me instead."
UNREADABLE_KEY = "I can't open your stored key anymore. Please set it again with `/setkey`."
# The database failed: each says what did (not) happen, so nothing is claimed that was not done.
STORE_UNAVAILABLE = (
    "I can't reach my database just now, so nothing changed. Please try again in a moment."
)
KEY_NOT_SAVED = (
    "Your key works, but I couldn't save it just now: nothing was stored. "
    "Please try again in a moment."
)
KEY_NOT_REMOVED = (
    "I couldn't delete your key just now: it is still stored. Please try again in a moment."
)
FORGET_FAILED = (
    "I couldn't delete your data just now: nothing was deleted. Please try again in a moment."
)


def too_many_key_tries(
    minutes: int, *, per_member: int, span_minutes: int, whole_workspace: bool
) -> str:
    wait = f"Please try again in {minutes} minute{'s' if minutes != 1 else ''}."
    if whole_workspace:
        return f"Lots of keys were tried here just now, so I've paused key checks. {wait}"
    return (
        f"Too many tries: I check at most {per_member} keys per person every "
        f"{span_minutes} minutes. {wait}"
    )


STALE_KEY_REJECTED = (
    "The provider rejected the key I was using for that, but you've changed your key since, "
    "so I left your current one alone. Please ask again."
)


def key_saved(masked: str, model_count: int) -> str:
    return (
        f"Your key `{masked}` is saved and sealed. It can use {model_count} "
        f"model{'s' if model_count != 1 else ''}; see `/model`."
    )


def leak_warning(
    deleted: bool, *, provider_name: str = "OpenAI", keys_page: str = OPENAI_KEYS_PAGE
) -> str:
    where = (
        "I deleted your message"
        if deleted
        else "I couldn't delete your message, so please delete it yourself"
    )
    what = f"{provider_name} API key" if provider_name else "API key"
    article = "an" if what[0].lower() in "aeiou" else "a"
    return (
        f"⚠️ Your message in a channel contained {article} {what}. Everyone there "
        f"could see it, so treat it as compromised: revoke it now at {keys_page} "
        f"and create a new one. {where}. I did not store or use it. "
        "Next time, send your key only with `/setkey` or here in a DM."
    )


DM_KEY_WITH_TEXT = (
    "That message contained an API key, so I treated it as `/setkey` and did not send it "
    "anywhere else."
)


def provider_failure(
    kind: FailureKind, *, retry_after: float | None = None, provider: Provider | None = None
) -> str:
    match kind:
        case FailureKind.UNAUTHORIZED:
            return (
                "Your API key was rejected by the provider (revoked or wrong). "
                "I've marked it invalid; run `/setkey` with a working key."
            )
        case FailureKind.NO_CREDIT:
            name = provider.name if provider is not None else "OpenAI"
            page = (
                (provider.billing_page or provider.keys_page)
                if provider is not None
                else OPENAI_BILLING_PAGE
            )
            return (
                f"Your {name} account is out of credit. Check your billing at {page} and try again."
            )
        case FailureKind.RATE_LIMITED:
            wait = f"in {max(1, round(retry_after))} s" if retry_after else "in a moment"
            return f"Your key is rate limited by the provider. Please try again {wait}."
        case FailureKind.REGION:
            return (
                "The provider doesn't serve the region this bot runs in. "
                "That's for the bot's operator to fix, not your key."
            )
        case FailureKind.PERMISSION:
            return (
                "The provider says your key isn't allowed to do that (its project or permissions "
                "may be restricted). Check the key's permissions, or use `/setkey` with another."
            )
        case FailureKind.MODEL_NOT_FOUND:
            return "Your key has no access to that model. See `/model` for the ones it can use."
        case FailureKind.BAD_REQUEST:
            return "The provider refused that request. Try a shorter question or another model."
        case _:
            return "Sorry, the provider didn't answer properly. Please ask again in a moment."


REPLY_LOST = (
    "I couldn't post my answer there (the platform refused it), so I stopped asking the "
    "provider. Please ask again in a moment."
)
RATE_LIMIT_RETRYING = "Your key is rate limited right now; retrying shortly…"
CUT_OFF_MARK = "\n\n_(answer cut off)_"


def models_list(models: list[str], current: str) -> str:
    shown = models[:40]
    lines = [f"{'→' if m == current else '•'} `{m}`" for m in shown]
    more = f"\n…and {len(models) - len(shown)} more." if len(models) > len(shown) else ""
    return (
        f"Your key can use these models (current: `{current}`). "
        "Pick one with `/model NAME`.\n" + "\n".join(lines) + more
    )


def key_saved_for(masked: str, model_count: int, provider: Provider) -> str:
    return (
        f"Your {provider.name} key `{masked}` is saved and sealed. It can use {model_count} "
        f"model{'s' if model_count != 1 else ''}; see `/model`."
    )


def key_of_another_provider(issuer: str, provider: Provider) -> str:
    return (
        f"That looks like a key from {issuer}, not {provider.name}, so I didn't send it "
        f"anywhere. {provider.name} keys come from {provider.keys_page}."
    )


def key_not_this_provider(provider: Provider) -> str:
    return (
        f"That doesn't look like a {provider.name} key, so I didn't send it anywhere. "
        f"Copy it again from {provider.keys_page}, or name its provider: `/setkey PROVIDER KEY`."
    )


def setkey_needs_key(provider: Provider) -> str:
    return (
        f"Add the key after the provider: `/setkey {provider.id} KEY` (privately), "
        f"or send it to me in a DM. Create one at {provider.keys_page}."
    )


def unknown_provider(ids: tuple[str, ...]) -> str:
    return f"I don't know that provider. The providers here: {', '.join(ids)}."


def which_key_to_remove(ids: list[str]) -> str:
    return (
        f"You have keys for {', '.join(ids)}. Say which to delete: `/removekey PROVIDER`, "
        "or `/forget` to delete everything."
    )


def key_removed_for(provider: Provider) -> str:
    return f"Your {provider.name} key is deleted. Use `/setkey {provider.id}` to add one again."


def no_key_for(provider: Provider) -> str:
    return f"You have no {provider.name} key stored, so there was nothing to remove."


def model_refused(reason: str) -> str:
    return f"{reason} See `/model` for the models you can use."


def model_not_allowed(model: str) -> str:
    return f"This bot's operator doesn't allow `{model}`."


def models_unlisted(provider: Provider) -> str:
    return f"(I couldn't list the {provider.name} models just now.)"


def model_chosen(model: str) -> str:
    return f"From now on I'll answer you with `{model}`."


def model_unknown(model: str) -> str:
    return f"Your key can't use `{model}`. See `/model` for the models it can."


MODEL_RESET = "Back to the default model."
MODEL_IS_A_KEY = (
    "That looks like an API key, not a model name, so I didn't use or keep it. "
    "Add a key with `/setkey`; see `/model` for the model names your key can use."
)


STILL_ANSWERING = "I'm still answering your last question. Ask again when it's done."


def too_many_requests(per_minute: int, wait: float) -> str:
    return (
        f"You're asking faster than this server allows ({per_minute} a minute). "
        f"Try again in {max(1, round(wait))} s."
    )


def cap_reached(period: str, cap: str, resets: datetime, *, by_server: bool) -> str:
    whose = "your admins'" if by_server else "your"
    change = "" if by_server else " Change it with `/limit`."
    return (
        f"You've reached {whose} {period} cap of {cap}, so I didn't ask the provider. "
        f"It resets {resets:%Y-%m-%d %H:%M} UTC.{change}"
    )


def dollar_cap_skips(models: list[str]) -> str:
    shown = ", ".join(f"`{model}`" for model in models[:5])
    return (
        f"Dollar caps count only models with a known price, so not {shown}; "
        "a token cap (`/limit daily 50000 tokens`) counts every model."
    )


LIMIT_HELP = (
    "Try `/limit daily 2 usd`, `/limit monthly 200000 tokens`, `/limit daily off` or `/limit off`."
)
LIMIT_UNCLEAR = "I didn't understand that limit. " + LIMIT_HELP
LIMITS_CLEARED = "Your caps are cleared."


def limit_set(period: str, cap: str) -> str:
    return (
        f"Your {period} cap is now {cap}. Once you reach it I'll stop asking the provider "
        "for you until it resets (midnight UTC, or the 1st for monthly)."
    )


def limit_cleared(period: str) -> str:
    return f"Your {period} cap is cleared."


CONFIG_BAD_CHANNELS = (
    "Name the channels with `#channel` mentions separated by spaces, or write `all`."
)
CONFIG_BAD_MODEL = (
    "A model name is one word of letters, digits and `.-_:/`, for example `gpt-4.1-mini`; "
    "`default` clears it."
)
CONFIG_BAD_ANSWERS = "Answers go in a `thread` or `in-place`."


def config_unknown_setting(name: str | None) -> str:
    known = (
        "`channels`, `model`, `answers`, `daily-cap`, `monthly-cap`, `prompt` or `channel-prompt`"
    )
    return f"I don't know the setting `{name}`; use {known}." if name else f"Use {known}."


# Prompts and members' instructions (bot/prompts.py). A refusal never repeats the text.
PROMPT_IS_A_KEY = (
    "That looks like it contains an API key, so I didn't save it (nothing changed). "
    "A prompt is sent to the provider with every question: never put a key in one."
)


def prompt_too_long(length: int, limit: int) -> str:
    return (
        f"That is {length:,} characters; a prompt can be at most {limit:,}. "
        "Please shorten it: nothing changed."
    )


INSTRUCTIONS_NONE = (
    "You have no instructions of your own. Add some with `/instructions` (for example "
    "“answer in French, briefly”): I follow them in answers to you, and only to you."
)
INSTRUCTIONS_CLEARED = "Your instructions are deleted; I answer you with the prompt of each place."


def instructions_shown(instructions: str) -> str:
    return (
        "Your instructions (only answers to you follow them; `/instructions clear` deletes "
        f"them):\n{instructions}"
    )


def instructions_saved(instructions: str) -> str:
    return f"Saved. I'll follow these instructions in answers to you:\n{instructions}"


def model_fallback(unusable: str, chosen: str) -> str:
    return (
        f"Your key can't use `{unusable}`; your questions will use `{chosen}`. "
        "Change it with `/model`."
    )


CONFIG_CHANNEL_PROMPT_WHERE = "Set a channel's prompt from inside that channel."
CONFIG_EMPTY_PROMPT = "Write the prompt after `prompt` or `channel-prompt`; `off` clears it."


def prompt_applies(source: str, *, has_instructions: bool, place: str) -> str:
    """/help's line on the prompt that applies where it was typed (`source` is operator,
    server or channel; `place` what the platform calls a server)."""
    whose = {
        "operator": "the bot's default prompt",
        "server": f"this {place}'s prompt, set by its admins",
        "channel": "this channel's prompt, set by the admins",
    }[source]
    mine = (
        "your own instructions are added to your questions (`/instructions` shows them)"
        if has_instructions
        else "you have no instructions of your own (`/instructions` adds some)"
    )
    return f"Here I answer with {whose}; {mine}."


# Files attached to a question: each note names one file left out, and why; the member
# reads them joined in one line (attachments_left_out).
def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB"
    return f"{limit / 1000:g} kB"


def attachment_too_large(name: str, limit: int) -> str:
    return f"`{name}` (larger than {_size(limit)})"


def attachment_unreadable(name: str) -> str:
    return f"`{name}` (I wasn't allowed to download it)"


def attachment_not_an_image(name: str) -> str:
    return f"`{name}` (not a PNG, JPEG, GIF or WebP image)"


def attachment_not_text(name: str) -> str:
    return f"`{name}` (not a text file)"


def attachment_unsupported(name: str) -> str:
    return f"`{name}` (I read only images and text files)"


def too_many_images(extra: int, most: int) -> str:
    more = "1 more image" if extra == 1 else f"{extra} more images"
    return f"{more} (I read at most {most} per question)"


def attachment_cut(name: str) -> str:
    return f"the end of `{name}` (too long for one question)"


def attachments_left_out(notes: list[str]) -> str:
    return "I left out " + "; ".join(notes) + ". I answered the rest."


FILE_CUT_MARK = "\n[… cut to fit]"


def images_unsupported(model: str, vision_model: str | None) -> str:
    if vision_model is None:
        return f"`{model}` can't read images. Pick a model that can with `/model`, then ask again."
    return f"`{model}` can't read images. Try `/model {vision_model}`, which can, then ask again."


SUMMARY_REQUEST = (
    "Summarise the conversation above for me: the main points, decisions and open "
    "questions, briefly."
)
ABOUT_REQUEST = "Explain or answer the message above for me, briefly."
NOTHING_TO_READ = "I couldn't read anything there to summarise."
KEY_IN_PRIVATE_QUESTION = (
    "That question contains what looks like an API key, so I didn't send it anywhere. "
    "To store your key, use `/setkey`."
)
