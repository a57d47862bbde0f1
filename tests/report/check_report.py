#!/usr/bin/env python3
"""Checks a `leerlus report` against the what-works JSON it was drawn from.

  check_report.py html REPORT.html WHAT_WORKS.json LANG [SVG_DIR]
  check_report.py png SCREENSHOT.png WIDTH HEIGHT

html: the report parses as XML; each work method has a section whose forest
plot has one row per pooled study, with the JSON's exact numbers; the
summary prints the JSON's estimate and CI rounded to 3 decimals; the SVG
files parse and hold the same rows.
png: the screenshot has the expected size and is not blank.
Exits non-zero with a message on the first mismatch.
"""
import json
import struct
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

SVG = "{http://www.w3.org/2000/svg}"
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def fixed(value, digits, decimal):
    text = f"{value:.{digits}f}"
    if text == f"-{0:.{digits}f}":
        text = text[1:]
    return text.replace(".", decimal)


def rows(element, css_class):
    return [g for g in element.iter(SVG + "g") if g.get("class") == css_class]


def same(number_text, expected, what):
    check(float(number_text) == float(expected), f"{what}: report {number_text}, JSON {expected}")


def check_forest(svg, method, where):
    studies = method.get("studies", [])
    drawn = rows(svg, "study")
    check(len(drawn) == len(studies),
          f"{where}: {len(drawn)} study rows, JSON has {len(studies)}")
    for row, study in zip(drawn, studies):
        check(row.get("data-experiment") == study["experiment_id"],
              f"{where}: row {row.get('data-experiment')} != {study['experiment_id']}")
        for attribute, field in [("data-effect", "effect"), ("data-variance", "variance"),
                                 ("data-ci-lower", "ci_lower"), ("data-ci-upper", "ci_upper"),
                                 ("data-weight", "weight_percent")]:
            same(row.get(attribute), study.get(field, 0), f"{where} {study['experiment_id']} {field}")
    pooled_rows = rows(svg, "pooled")
    check(len(pooled_rows) == 1, f"{where}: {len(pooled_rows)} pooled rows")
    if pooled_rows:
        pooled = method["pooled"]
        for attribute, field in [("data-estimate", "estimate"), ("data-ci-lower", "ci_lower"),
                                 ("data-ci-upper", "ci_upper"), ("data-pi-lower", "pi_lower"),
                                 ("data-pi-upper", "pi_upper")]:
            same(pooled_rows[0].get(attribute), pooled.get(field, 0), f"{where} pooled {field}")
        check(pooled_rows[0].get("data-k") == str(pooled["k"]), f"{where}: pooled k")


def check_html(report_path, json_path, language, svg_dir=None):
    answer = json.loads(Path(json_path).read_text())
    root = ET.parse(report_path).getroot()  # Fails on anything not well-formed.
    decimal = "," if language == "nl" else "."
    check(root.get("lang") == language, f"html lang is {root.get('lang')}, expected {language}")
    title = root.find("head/title").text
    check(title.startswith("Wat werkt voor" if language == "nl" else "What works for"),
          f"title '{title}' is not in language {language}")
    position = [p for p in root.iter("p") if p.get("id") == "position"]
    check(len(position) == 1 and position[0].get("data-position") == str(answer["read_position"]),
          "the report does not state the log position of the answer")
    for script in root.iter("script"):
        failures.append("the report holds a <script>")
    # Every part of the page is in a landmark (axe's "region" rule), and
    # there is exactly one main landmark.
    body = root.find("body")
    outside = [child.tag for child in body if child.tag not in ("header", "main", "footer", "nav")]
    check(not outside, f"body holds {outside} outside any landmark")
    check(len(body.findall("main")) == 1, "the report has no single <main> landmark")
    text_of = lambda element: "".join(element.itertext())
    sections = {s.get("data-method"): s for s in root.iter("section")}
    summary = {tr.get("data-method"): tr for tr in root.iter("tr") if tr.get("data-method")}
    methods = answer.get("methods", [])
    check(len(methods) > 0, "the JSON answer has no work methods")
    for method in methods:
        method_id = method["work_method_id"]
        check(method_id in sections, f"no section for {method_id}")
        check(method_id in summary, f"no summary row for {method_id}")
        if "pooled" not in method:
            continue
        pooled = method["pooled"]
        printed = (f"{fixed(pooled['estimate'], 3, decimal)} [{fixed(pooled['ci_lower'], 3, decimal)}, "
                   f"{fixed(pooled['ci_upper'], 3, decimal)}]")
        if method_id in summary:
            cells = [text_of(td) for td in summary[method_id].iter("td")
                     if "estimate" in (td.get("class") or "")]
            check(cells == [printed], f"summary of {method_id} prints {cells}, JSON says {printed}")
        if method_id in sections:
            plots = [svg for svg in sections[method_id].iter(SVG + "svg")]
            check(len(plots) >= 1, f"no forest plot for {method_id}")
            if plots:
                check_forest(plots[0], method, f"report {method_id}")
        if svg_dir:
            path = Path(svg_dir) / f"forest-{method_id}.svg"
            check(path.exists(), f"{path} was not written")
            if path.exists():
                check_forest(ET.parse(path).getroot(), method, str(path))
    if svg_dir:
        for path in Path(svg_dir).glob("*.svg"):
            ET.parse(path)  # Every SVG parses.


def png_pixels(path):
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG: (width, height, rows)."""
    data = Path(path).read_bytes()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    offset, idat = 8, b""
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    if depth != 8 or color not in (2, 6) or interlace != 0:
        raise SystemExit(f"{path}: unsupported PNG (depth {depth}, color {color})")
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels = []
    position = 0
    for _ in range(height):
        kind = raw[position]
        line = bytearray(raw[position + 1:position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                line[i] = (line[i] + predictor) & 255
        pixels.append(bytes(line))
        previous = line
    return width, height, channels, pixels


def check_png(path, width, height):
    got_width, got_height, channels, pixels = png_pixels(path)
    check((got_width, got_height) == (width, height),
          f"screenshot is {got_width}x{got_height}, expected {width}x{height}")
    colors = set()
    ink = 0
    total = 0
    for line in pixels[::4]:
        for x in range(0, len(line), channels * 4):
            pixel = line[x:x + 3]
            colors.add(pixel)
            total += 1
            if sum(pixel) < 600:  # Clearly darker than white.
                ink += 1
    check(len(colors) > 20, f"screenshot has only {len(colors)} colours: blank?")
    check(ink / total > 0.01, f"screenshot is {100 * ink / total:.2f}% ink: blank?")
    print(f"screenshot {got_width}x{got_height}: {len(colors)} colours, {100 * ink / total:.1f}% ink")


if __name__ == "__main__":
    if sys.argv[1] == "html":
        check_html(*sys.argv[2:])
    elif sys.argv[1] == "png":
        check_png(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
    for failure in failures:
        print("FAIL:", failure)
    if failures:
        sys.exit(1)
    print("ok:", " ".join(sys.argv[1:3]))
