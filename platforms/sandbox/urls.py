"""The sandbox's URL layout for each driver it imitates: what the `sandbox` target hands a driver as its
`publish.<platform>.urls` (tests point a real platform's settings at a running sandbox the same way)."""

from __future__ import annotations

from bot.core.config import PlatformPublish

URLS: dict[str, dict[str, str]] = {
    "tistory": {
        "blog": "{base}/tistory/{blog}",
        "login": "{base}/tistory/auth/login",
    },
    "naver": {
        "write": "{base}/naver/{blog}/postwrite",
        "post": "{base}/naver/{blog}/{{no}}",
        "read_post": "{base}/PostView.naver?blogId={blog}&logNo={{no}}",
        "read_list": "{base}/api/blogs/{blog}/post-list?page=1&itemCount=30&categoryNo=0",
        "login": "{base}/naver/nidlogin.login",
    },
    "velog": {
        "graphql": "{base}/graphql",
        "post": "{base}/@{{user}}/{{slug}}",
        "write": "{base}/write",
        "site": "{base}",
        "login": "{base}/velog/login",
    },
}


def for_driver(driver: str, base: str) -> dict[str, str]:
    """The URL templates of `driver` on the sandbox serving at `base`."""
    return {k: v.replace("{base}", base.rstrip("/")) for k, v in URLS[driver].items()}


def settings_for(platform: str, base: str, **settings: object) -> PlatformPublish:
    """publish.<platform> settings pointing a real platform's driver at the sandbox serving at `base` (tests,
    benchmarks): its URL table replaced by the sandbox's, the rest as given."""
    return PlatformPublish(urls=for_driver(platform, base), **settings)


def yaml_urls(platform: str, base: str) -> str:
    """The same URL table as a YAML flow mapping, for a test's config.yaml (`urls: {...}`)."""
    import json

    return json.dumps(for_driver(platform, base))
