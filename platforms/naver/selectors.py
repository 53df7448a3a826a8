"""Naver Blog publishing: every URL and selector the driver uses, in one table (PLATFORMS.md §4, §9.7).
Stable hooks only: se-* classes of SmartEditor ONE, data-click-area, data-testid, ids and label[for]."""

from __future__ import annotations

URLS = {
    "write": "https://blog.naver.com/{blog}/postwrite",
    "post": "https://blog.naver.com/{blog}/{{no}}",
    "read_post": "https://m.blog.naver.com/PostView.naver?blogId={blog}&logNo={{no}}",
    "read_list": "https://m.blog.naver.com/api/blogs/{blog}/post-list?page=1&itemCount=30&categoryNo=0",
}
# After publishing, the page leaves the write page for /{blogId}/{logNo} or PostView.
PUBLISHED_URL = r"/{blog}/(\d+)|[?&]logNo=(\d+)"

SELECTORS = {
    "help_close": "button.se-help-panel-close-button",
    "restore_cancel": "button.se-popup-button-cancel",
    "title": ".se-documentTitle .se-text-paragraph",
    "body": ".se-component.se-text .se-text-paragraph",
    "publish_open": "button[data-click-area='tpb.publish']",
    "category_button": "button[data-click-area='tpb*i.category']",
    "category_item": "[class*='option_list_layer'] li",
    "tags": "input#tag-input",
    "visibility_public": "label[for='open_public']",
    "visibility_private": "label[for='open_private']",
    "publish": "button[data-testid='seOnePublishBtn']",
    "login_or_captcha": "#frmNIDLogin, input#pw, #captcha",
    "captcha": "#captcha",
    # read side (mobile PostView)
    "post_title": "meta[property='og:title']",
    "post_body": ".se-main-container, .se_component_wrap, #postViewArea",
}
LOGIN_MARKERS = ("nid.naver.com", "nidlogin.login")

STEPS = {
    "editor": ["help_close", "title", "body", "publish_open"],
    "restore_popup": ["restore_cancel"],
    "publish_layer": ["category_button", "tags", "visibility_public", "visibility_private", "publish"],
    "category_open": ["category_item"],
    "login": ["login_or_captcha"],
    "captcha": ["captcha"],
}
