"""The ad markup (`adm`) of a bid: banner HTML, a Native 1.2 response, or VAST.

Every markup carries our impression pixel and sends clicks through our click URL (which redirects
to the creative's reviewed landing URL, and only there):

- banner: an `<a>` around the image (absolute URL), then the 1x1 impression pixel;
- native: a Native 1.2 response whose assets answer the request's assets by id (title: the
  headline; main image: the image; data: advertiser name, body, display URL, call to action),
  `link.url` the click URL, and the impression pixel as an event tracker when the request lists
  image-pixel impression tracking (`eventtrackers`), else in `imptrackers` (Native 1.0/1.1);
- video, with a VAST URL: a VAST Wrapper (VASTAdTagURI) adding our Impression and, as a
  ClickTracking, our click URL (a wrapper may not set the ClickThrough; the inline ad does);
- video, with VAST XML: the advertiser's document with our Impression added to each ad and, in
  inline linear ads, our click URL as the ClickThrough. The document was reviewed with the
  creative; if it does not parse as VAST we do not bid with it.

Text from creatives is escaped for the markup it goes into; nothing from the request is.
"""

from __future__ import annotations

import html
from functools import lru_cache
from urllib.parse import urlsplit
from xml.etree import ElementTree

import orjson

from delivery.openrtb.parse import NATIVE_MAIN_IMAGE, NativeAsset, NativeSpec
from delivery.request import CreativeInfo
from delivery.tracking import TrackingUrls

AD_SYSTEM = "Adwright"
# Stand-ins for the per-bid URLs in a VAST document prepared once per creative (see _vast_template).
_IMPRESSION_MARK = "adwright-impression-url-7f3c9a"
_CLICK_MARK = "adwright-click-url-7f3c9a"


def absolute_url(url: str, base_url: str) -> str:
    """A media URL as the absolute URL a page elsewhere can load ("/media/x.png" -> base + path)."""
    if not url or url.startswith(("https://", "http://")):
        return url
    return f"{base_url}{url}" if url.startswith("/") else f"{base_url}/{url}"


def banner_html(creative: CreativeInfo, urls: TrackingUrls, base_url: str) -> str:
    image = absolute_url(creative.image_url, base_url)
    alt = creative.headline or creative.advertiser_name
    size = (
        f' width="{creative.width}" height="{creative.height}"' if creative.width and creative.height else ""
    )
    return (
        f'<a href="{html.escape(urls.click_url)}" target="_blank" rel="noopener">'
        f'<img src="{html.escape(image)}"{size} alt="{html.escape(alt)}" style="border:0;display:block"></a>'
        f'<img src="{html.escape(urls.impression_url)}" width="1" height="1" alt=""'
        ' style="position:absolute;width:1px;height:1px;border:0">'
    )


def native_json(creative: CreativeInfo, spec: NativeSpec, urls: TrackingUrls, base_url: str) -> str | None:
    """The Native 1.2 response for the request's assets; None when a required one cannot be filled."""
    assets = []
    for asset in spec.assets:
        filled = _native_asset(asset, creative, base_url)
        if filled is None:
            if asset.required:
                return None
            continue
        assets.append(filled)
    native: dict[str, object] = {"ver": "1.2", "assets": assets, "link": {"url": urls.click_url}}
    if spec.image_trackers:
        native["eventtrackers"] = [{"event": 1, "method": 1, "url": urls.impression_url}]
    else:
        native["imptrackers"] = [urls.impression_url]
    return orjson.dumps({"native": native} if spec.wrapped else native).decode()


def _native_asset(asset: NativeAsset, creative: CreativeInfo, base_url: str) -> dict[str, object] | None:
    if asset.kind == "title":
        text = _fit(creative.headline, asset.length)
        return {"id": asset.id, "title": {"text": text}} if text else None
    if asset.kind == "img":
        big_enough = (creative.width or 0) >= asset.min_width and (creative.height or 0) >= asset.min_height
        if asset.type != NATIVE_MAIN_IMAGE or not creative.image_url or not big_enough:
            return None
        image = {"type": NATIVE_MAIN_IMAGE, "url": absolute_url(creative.image_url, base_url)}
        if creative.width and creative.height:
            image |= {"w": creative.width, "h": creative.height}
        return {"id": asset.id, "img": image}
    if asset.kind == "data":
        value = {
            1: creative.advertiser_name,
            2: creative.body,
            11: urlsplit(creative.landing_url).hostname or "",
            12: creative.call_to_action,
        }.get(asset.type, "")
        text = _fit(value, asset.length)
        return {"id": asset.id, "data": {"type": asset.type, "value": text}} if text else None
    return None


def _fit(text: str, length: int) -> str:
    """Text cut to `length` characters (0: any length), with an ellipsis when cut."""
    text = text.strip()
    if not length or len(text) <= length:
        return text
    return text[: length - 1].rstrip() + "…" if length > 1 else text[:1]


def vast(creative: CreativeInfo, urls: TrackingUrls, version: str = "4.0") -> str | None:
    """VAST for a video creative, or None when it has none we can serve."""
    if creative.vast_xml:
        template = _vast_template(creative.vast_xml)
        if template is None:
            return None
        return template.replace(_IMPRESSION_MARK, _xml_text(urls.impression_url)).replace(
            _CLICK_MARK, _xml_text(urls.click_url)
        )
    if creative.vast_url:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<VAST version="{version}"><Ad id="{creative.id}"><Wrapper>'
            f"<AdSystem>{AD_SYSTEM}</AdSystem>"
            f"<VASTAdTagURI>{_cdata(creative.vast_url)}</VASTAdTagURI>"
            f"<Impression>{_cdata(urls.impression_url)}</Impression>"
            "<Creatives><Creative><Linear><VideoClicks>"
            f"<ClickTracking>{_cdata(urls.click_url)}</ClickTracking>"
            "</VideoClicks></Linear></Creative></Creatives>"
            "</Wrapper></Ad></VAST>"
        )
    return None


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml_text(text: str) -> str:
    return html.escape(text, quote=False)


@lru_cache(maxsize=256)
def _vast_template(document: str) -> str | None:
    """The advertiser's VAST with our Impression and click added, the URLs left as marks to replace.

    Parsed once per document (the cache is keyed by the text): the serving path only substitutes.
    """
    if "<!DOCTYPE" in document.upper() or "<!ENTITY" in document.upper():
        return None  # VAST needs no DTD, and entity definitions are how XML bombs are made
    try:
        # The advertiser's reviewed document, and ElementTree never loads external entities.
        root = ElementTree.fromstring(document)  # noqa: S314
    except ElementTree.ParseError:
        return None
    if root.tag.startswith("{"):
        # VAST 4 documents may declare xmlns="http://www.iab.com/VAST". ElementTree would write the
        # elements back with made-up prefixes: keep the VAST ones unprefixed under the same default.
        namespace = root.tag[1:].partition("}")[0]
        for element in root.iter():
            if isinstance(element.tag, str) and element.tag.startswith(f"{{{namespace}}}"):
                element.tag = element.tag.partition("}")[2]
        root.set("xmlns", namespace)

    if root.tag != "VAST":
        return None
    blocks = 0
    for ad in root.findall("Ad"):
        for kind in ("InLine", "Wrapper"):
            block = ad.find(kind)
            if block is None:
                continue
            blocks += 1
            impression = ElementTree.Element("Impression")
            impression.text = _IMPRESSION_MARK
            children = list(block)
            impressions = [i for i, child in enumerate(children) if child.tag == "Impression"]
            creatives = next(
                (i for i, child in enumerate(children) if child.tag == "Creatives"), len(children)
            )
            block.insert(impressions[-1] + 1 if impressions else creatives, impression)
            for linear in block.iter("Linear"):
                _add_click(linear, inline=kind == "InLine")
    if not blocks:
        return None
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode")


def _add_click(linear: ElementTree.Element, *, inline: bool) -> None:
    clicks = linear.find("VideoClicks")
    if clicks is None:
        clicks = ElementTree.Element("VideoClicks")
        children = list(linear)
        media = next((i for i, child in enumerate(children) if child.tag == "MediaFiles"), len(children))
        linear.insert(media, clicks)
    if inline:
        through = clicks.find("ClickThrough")
        if through is None:
            through = ElementTree.Element("ClickThrough")
            clicks.insert(0, through)
        through.text = _CLICK_MARK
    else:
        ElementTree.SubElement(clicks, "ClickTracking").text = _CLICK_MARK
