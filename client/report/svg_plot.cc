#include "client/report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace leerlus::client {
namespace {

// Layout, in SVG user units (pixels at 100%).
constexpr double kWidth = 960;
constexpr double kTitleHeight = 28;
constexpr double kHeaderHeight = 22;
constexpr double kRowHeight = 22;
constexpr double kAxisHeight = 58;
constexpr double kLabelX = 8;
constexpr double kDetailX = 290;
constexpr double kPlotLeft = 500;
constexpr double kPlotRight = 750;
constexpr double kEstimateX = 760;
constexpr double kWeightRight = 952;
constexpr size_t kLabelChars = 38;
constexpr size_t kDetailChars = 30;

// Cuts UTF-8 text to at most `max_chars` code points, ending in an ellipsis.
std::string Cut(const std::string& text, size_t max_chars) {
  // Byte offset where each code point starts (continuation bytes are 10xxxxxx).
  std::vector<size_t> starts;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  if (starts.size() <= max_chars) return text;
  return text.substr(0, starts[max_chars - 1]) + "\u2026";
}

std::string Px(double value) { return absl::StrFormat("%.1f", value); }

}  // namespace

std::string XmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string FormatFixed(double value, int digits, char decimal_separator) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "\u221e" : "-\u221e";
  std::string text = absl::StrFormat("%.*f", digits, value);
  if (text == absl::StrFormat("-%.*f", digits, 0.0)) text = text.substr(1);  // no "-0.00"
  if (decimal_separator != '.') std::replace(text.begin(), text.end(), '.', decimal_separator);
  return text;
}

std::vector<double> NiceTicks(double low, double high, int approximate_count) {
  if (!(high > low)) {
    double pad = std::max(std::abs(low) * 0.1, 0.1);
    low -= pad;
    high += pad;
  }
  const double raw_step = (high - low) / std::max(approximate_count, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  double step = magnitude;
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw_step) break;
  }
  std::vector<double> ticks;
  const double first = std::floor(low / step + 1e-9) * step;
  for (double tick = first; tick < high + step * (1 - 1e-9); tick += step) {
    ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);
  }
  return ticks;
}

namespace {

// Where effects go across the plot: the axis spans every interval drawn,
// and zero, in round ticks.
struct Axis {
  std::vector<double> ticks;

  double X(double value) const {
    const double low = ticks.front();
    const double high = ticks.back();
    value = std::clamp(value, low, high);
    return kPlotLeft + (value - low) / (high - low) * (kPlotRight - kPlotLeft);
  }
};

Axis AxisFor(const std::vector<ForestRow>& rows) {
  double low = 0, high = 0;
  for (const ForestRow& row : rows) {
    for (double value : {row.ci_lower, row.ci_upper, row.estimate}) {
      if (std::isfinite(value)) {
        low = std::min(low, value);
        high = std::max(high, value);
      }
    }
    if (row.has_prediction) {
      if (std::isfinite(row.pi_lower)) low = std::min(low, row.pi_lower);
      if (std::isfinite(row.pi_upper)) high = std::max(high, row.pi_upper);
    }
  }
  return Axis{NiceTicks(low, high, 6)};
}

// The <svg> element's start, the background and the title.
void AppendStart(const ForestPlot& plot, double height, std::string& svg) {
  absl::StrAppend(
      &svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"forest\" width=\"", Px(kWidth),
      "\" height=\"", Px(height), "\" viewBox=\"0 0 ", Px(kWidth), " ", Px(height),
      "\" role=\"img\" aria-label=\"", XmlEscape(plot.title),
      "\" font-family=\"DejaVu Sans, Liberation Sans, Arial, sans-serif\" font-size=\"12\">\n",
      "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n",
      "<text x=\"", Px(kLabelX), "\" y=\"18\" font-size=\"15\" font-weight=\"bold\">",
      XmlEscape(plot.title), "</text>\n");
}

void AppendColumnHeaders(const ForestPlot& plot, std::string& svg) {
  const std::string header_y = Px(kTitleHeight + 15);
  absl::StrAppend(&svg, "<g class=\"header\" font-weight=\"bold\" fill=\"#333333\">",
                  "<text x=\"", Px(kLabelX), "\" y=\"", header_y, "\">",
                  XmlEscape(plot.label_header), "</text>", "<text x=\"", Px(kDetailX), "\" y=\"",
                  header_y, "\">", XmlEscape(plot.detail_header), "</text>", "<text x=\"",
                  Px(kEstimateX), "\" y=\"", header_y, "\">", XmlEscape(plot.estimate_header),
                  "</text>");
  if (!plot.weight_header.empty()) {
    absl::StrAppend(&svg, "<text x=\"", Px(kWeightRight), "\" y=\"", header_y,
                    "\" text-anchor=\"end\">", XmlEscape(plot.weight_header), "</text>");
  }
  absl::StrAppend(&svg, "</g>\n");
}

// Zero line and grid lines behind the rows.
void AppendGridLines(const Axis& axis, double rows_top, double rows_bottom, std::string& svg) {
  for (double tick : axis.ticks) {
    absl::StrAppend(&svg, "<line x1=\"", Px(axis.X(tick)), "\" y1=\"", Px(rows_top), "\" x2=\"",
                    Px(axis.X(tick)), "\" y2=\"", Px(rows_bottom), "\" stroke=\"",
                    tick == 0 ? "#555555" : "#e4e4e4", "\" stroke-width=\"",
                    tick == 0 ? "1.2" : "1", "\"", tick == 0 ? " class=\"zero-line\"" : "",
                    "/>\n");
  }
}

// A row's interval at height y: the prediction interval dashed, then a
// diamond (pooled) or a line with a square sized by weight (a study).
void AppendIntervals(const ForestRow& row, double y, const Axis& axis, double max_weight,
                     std::string& svg) {
  if (row.has_prediction) {
    absl::StrAppend(&svg, "<line class=\"prediction\" x1=\"", Px(axis.X(row.pi_lower)),
                    "\" y1=\"", Px(y), "\" x2=\"", Px(axis.X(row.pi_upper)), "\" y2=\"", Px(y),
                    "\" stroke=\"#1f5fa8\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>");
  }
  if (row.pooled) {
    absl::StrAppend(&svg, "<polygon class=\"diamond\" points=\"", Px(axis.X(row.ci_lower)), ",",
                    Px(y), " ", Px(axis.X(row.estimate)), ",", Px(y - 7), " ",
                    Px(axis.X(row.ci_upper)), ",", Px(y), " ", Px(axis.X(row.estimate)), ",",
                    Px(y + 7), "\" fill=\"#1f5fa8\"/>");
    return;
  }
  absl::StrAppend(&svg, "<line x1=\"", Px(axis.X(row.ci_lower)), "\" y1=\"", Px(y), "\" x2=\"",
                  Px(axis.X(row.ci_upper)), "\" y2=\"", Px(y),
                  "\" stroke=\"#222222\" stroke-width=\"1.3\"/>");
  const double side = max_weight > 0 ? 4 + 10 * std::sqrt(row.weight_percent / max_weight) : 6;
  absl::StrAppend(&svg, "<rect x=\"", Px(axis.X(row.estimate) - side / 2), "\" y=\"",
                  Px(y - side / 2), "\" width=\"", Px(side), "\" height=\"", Px(side),
                  "\" fill=\"#222222\"/>");
}

// One row as a <g> from `top` down: its texts, its interval and numbers.
void AppendRow(const ForestPlot& plot, const ForestRow& row, double top, const Axis& axis,
               double max_weight, std::string& svg) {
  const double y = top + kRowHeight / 2;
  const char sep = plot.decimal_separator;
  absl::StrAppend(&svg, "<g class=\"", XmlEscape(row.css_class), "\"");
  for (const auto& [name, value] : row.data) {
    absl::StrAppend(&svg, " data-", name, "=\"", XmlEscape(value), "\"");
  }
  absl::StrAppend(&svg, ">");
  if (row.rule_above) {
    absl::StrAppend(&svg, "<line x1=\"", Px(kLabelX), "\" y1=\"", Px(top), "\" x2=\"",
                    Px(kWeightRight), "\" y2=\"", Px(top), "\" stroke=\"#999999\"/>");
  }
  const char* weight = row.pooled ? " font-weight=\"bold\"" : "";
  absl::StrAppend(&svg, "<text x=\"", Px(kLabelX), "\" y=\"", Px(y + 4), "\"", weight, ">",
                  XmlEscape(Cut(row.label, kLabelChars)), "</text>");
  absl::StrAppend(&svg, "<text x=\"", Px(kDetailX), "\" y=\"", Px(y + 4), "\" fill=\"#555555\">",
                  XmlEscape(Cut(row.detail, kDetailChars)), "</text>");
  AppendIntervals(row, y, axis, max_weight, svg);
  absl::StrAppend(&svg, "<text x=\"", Px(kEstimateX), "\" y=\"", Px(y + 4), "\"", weight, ">",
                  FormatFixed(row.estimate, 2, sep), " [", FormatFixed(row.ci_lower, 2, sep),
                  ", ", FormatFixed(row.ci_upper, 2, sep), "]</text>");
  if (!plot.weight_header.empty() && row.weight_percent > 0) {
    absl::StrAppend(&svg, "<text x=\"", Px(kWeightRight), "\" y=\"", Px(y + 4),
                    "\" text-anchor=\"end\">", FormatFixed(row.weight_percent, 1, sep),
                    "%</text>");
  }
  absl::StrAppend(&svg, "</g>\n");
}

// The axis under the rows: ticks, the measure's name, and which side is
// better; then the end of the <svg>.
void AppendAxisAndEnd(const ForestPlot& plot, const Axis& axis, double rows_bottom,
                      std::string& svg) {
  const std::vector<double>& ticks = axis.ticks;
  absl::StrAppend(&svg, "<g class=\"axis\"><line x1=\"", Px(kPlotLeft), "\" y1=\"",
                  Px(rows_bottom + 4), "\" x2=\"", Px(kPlotRight), "\" y2=\"",
                  Px(rows_bottom + 4), "\" stroke=\"#222222\"/>");
  for (double tick : ticks) {
    const int digits = std::abs(ticks[1] - ticks[0]) < 0.1 ? 2 : 1;
    absl::StrAppend(&svg, "<line x1=\"", Px(axis.X(tick)), "\" y1=\"", Px(rows_bottom + 4),
                    "\" x2=\"", Px(axis.X(tick)), "\" y2=\"", Px(rows_bottom + 9),
                    "\" stroke=\"#222222\"/><text x=\"", Px(axis.X(tick)), "\" y=\"",
                    Px(rows_bottom + 21), "\" text-anchor=\"middle\" font-size=\"11\">",
                    FormatFixed(tick, digits, plot.decimal_separator), "</text>");
  }
  const double middle = (kPlotLeft + kPlotRight) / 2;
  absl::StrAppend(&svg, "<text x=\"", Px(middle), "\" y=\"", Px(rows_bottom + 36),
                  "\" text-anchor=\"middle\">", XmlEscape(plot.axis_label), "</text>",
                  // Which side is better, each label running outward from the middle.
                  "<text class=\"worse\" x=\"", Px(middle - 8), "\" y=\"", Px(rows_bottom + 51),
                  "\" text-anchor=\"end\" font-size=\"11\" fill=\"#9a3412\">\u2190 ",
                  XmlEscape(plot.worse_label), "</text>", "<text class=\"better\" x=\"",
                  Px(middle + 8), "\" y=\"", Px(rows_bottom + 51),
                  "\" font-size=\"11\" fill=\"#166534\">", XmlEscape(plot.better_label),
                  " \u2192</text></g>\n</svg>\n");
}

}  // namespace

std::string RenderForestPlot(const ForestPlot& plot) {
  const Axis axis = AxisFor(plot.rows);
  double max_weight = 0;
  for (const ForestRow& row : plot.rows) max_weight = std::max(max_weight, row.weight_percent);
  const double rows_top = kTitleHeight + kHeaderHeight;
  const double rows_bottom = rows_top + kRowHeight * static_cast<double>(plot.rows.size());
  std::string svg;
  AppendStart(plot, rows_bottom + kAxisHeight, svg);
  AppendColumnHeaders(plot, svg);
  AppendGridLines(axis, rows_top, rows_bottom, svg);
  for (size_t i = 0; i < plot.rows.size(); ++i) {
    AppendRow(plot, plot.rows[i], rows_top + kRowHeight * static_cast<double>(i), axis, max_weight,
              svg);
  }
  AppendAxisAndEnd(plot, axis, rows_bottom, svg);
  return svg;
}

}  // namespace leerlus::client
