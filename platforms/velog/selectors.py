"""Velog publishing: endpoints, the writePost mutation and the /write UI selectors, in one table (PLATFORMS.md §6)."""

from __future__ import annotations

URLS = {
    "graphql": "https://v2.velog.io/graphql",
    "post": "https://velog.io/@{{user}}/{{slug}}",
    "write": "https://velog.io/write",
    "site": "https://velog.io",
}

CURRENT_USER = "query CurrentUser { currentUser { id username } }"
WRITE_POST = (
    "mutation WritePost($title: String, $body: String, $tags: [String], $is_markdown: Boolean, $is_temp: Boolean, "
    "$is_private: Boolean, $url_slug: String, $thumbnail: String, $meta: JSON, $series_id: ID) { "
    "writePost(title: $title, body: $body, tags: $tags, is_markdown: $is_markdown, is_temp: $is_temp, "
    "is_private: $is_private, url_slug: $url_slug, thumbnail: $thumbnail, meta: $meta, series_id: $series_id) { "
    "id user { id username } url_slug } }"
)
READ_POST = ("query ReadPost($username: String, $url_slug: String) { post(username: $username, url_slug: $url_slug) "
             "{ id title body is_private is_temp url_slug released_at user { id username } } }")
LIST_POSTS = ("query Posts($cursor: ID, $username: String, $limit: Int) { posts(cursor: $cursor, username: $username, "
              "limit: $limit) { id title url_slug is_private released_at } }")

# The /write UI (the alternative path, `publish.velog.mode: ui`).
SELECTORS = {
    "title": "textarea[placeholder='제목을 입력하세요']",
    "tags": "input[placeholder='태그를 입력하세요']",
    "body": ".CodeMirror",
    "publish_open": "button:text-is('출간하기') >> nth=0",
    "visibility_public": "button:text-is('전체 공개')",
    "visibility_private": "button:text-is('비공개')",
    "url_slug": "input[aria-label='URL 설정']",
    "publish": ".publish-screen button:text-is('출간하기')",
    "login_or_captcha": "input[type=password], #captcha",
    "captcha": "#captcha",
}
LOGIN_MARKERS = ("/login", "/auth/")

STEPS = {
    "editor": ["title", "tags", "body"],
    "publish_screen": ["visibility_public", "visibility_private", "url_slug", "publish"],
    "login": ["login_or_captcha"],
    "captcha": ["captcha"],
}
