"""Tistory publishing: every URL and selector the driver uses, in one table (PLATFORMS.md §5)."""

from __future__ import annotations

# The real site's URLs; publish.tistory.urls overrides any of them.
URLS = {
    "blog": "https://{blog}.tistory.com",
    "login": "https://www.tistory.com/auth/login",
}
NEWPOST = "/manage/newpost/?type=post&returnURL=%2Fmanage%2Fposts%2F"
POST_JSON = "/manage/post.json"
OWNER_LIST = "/manage/posts.json?category=-3&page=1&searchKeyword={q}&searchType=title&visibility=all"

SELECTORS = {
    "title": "textarea#post-title-inp",
    "editor_frame": "iframe#editor-tistory_ifr",
    "body": "body#tinymce",  # inside editor_frame
    "tags": "input#tagText",
    "category_button": "#category-btn",
    "category_item": "#category-list [role=option]",
    "publish_layer": "button#publish-layer-btn",
    "visibility_public": "input#open20",
    "visibility_private": "input#open0",
    "publish": "button#publish-btn",
    "login_or_captcha": "input[name=loginId], form[action*='accounts.kakao.com'], #captcha, .g-recaptcha",
    "captcha": "#captcha, .g-recaptcha",
    # read side (public post page), class-contains as in PLATFORMS.md §2.3
    "post_body": "[class*='tt_article_useless_p_margin']",
}
LOGIN_MARKERS = ("/auth/login", "accounts.kakao.com")
# The native confirm shown on open when an autosaved draft exists: dismissed to start clean.
RESTORE_DIALOG = "이어서 작성"

# Which selectors must be on the page at each step (the selector test walks these on the sandbox).
STEPS = {
    "editor": ["title", "editor_frame", "tags", "category_button", "publish_layer"],
    "editor_frame": ["body"],
    "category_open": ["category_item"],
    "publish_layer": ["visibility_public", "visibility_private", "publish"],
    "login": ["login_or_captcha"],
    "captcha": ["captcha"],
}
