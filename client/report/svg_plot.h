// Forest plots as standalone SVG, for reports and slides. Pure functions: no
// I/O, no fonts or scripts fetched, so the output renders offline and prints.
//
// Every row carries its exact numbers as data-* attributes (shortest
// round-trip text: ExactNumber in client/output.h), so a test or a reader's
// script can check the picture against the JSON answer it was drawn from.
#ifndef LEERLUS_CLIENT_REPORT_SVG_PLOT_H_
#define LEERLUS_CLIENT_REPORT_SVG_PLOT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace leerlus::client {

// Escapes text for XML content and attribute values (also HTML).
std::string XmlEscape(absl::string_view text);

// "%.{digits}f" with '.' or ',' as the decimal separator.
std::string FormatFixed(double value, int digits, char decimal_separator);

// About `approximate_count` round tick values (1, 2 or 5 times a power of
// ten apart) whose range covers [low, high].
std::vector<double> NiceTicks(double low, double high, int approximate_count);

struct ForestRow {
  // Left column (e.g. the experiment's title) and a second column (area and
  // design); both are cut to fit with an ellipsis.
  std::string label;
  std::string detail;
  double estimate = 0;
  double ci_lower = 0;
  double ci_upper = 0;
  // > 0: a study drawn as a square whose area grows with its weight.
  double weight_percent = 0;
  // A pooled result drawn as a diamond (else a square and a line).
  bool pooled = false;
  // A rule above the row, to set the pooled result apart.
  bool rule_above = false;
  // Prediction interval drawn as a dashed line through the diamond.
  bool has_prediction = false;
  double pi_lower = 0;
  double pi_upper = 0;
  // Class of the row's <g> ("study", "pooled", "subgroup") and its data-*
  // attributes (name without the "data-" prefix, value).
  std::string css_class = "study";
  std::vector<std::pair<std::string, std::string>> data;
};

struct ForestPlot {
  std::string title;
  // Column headers.
  std::string label_header;
  std::string detail_header;
  std::string estimate_header;
  std::string weight_header;  // Empty: no weight column.
  // Under the axis: its name, and which side is better (drawn on the right).
  std::string axis_label;
  std::string worse_label;
  std::string better_label;
  char decimal_separator = '.';
  std::vector<ForestRow> rows;
};

// A complete <svg> element (with the SVG namespace), without an XML
// declaration, so it can be inlined in HTML or written to a file as is.
std::string RenderForestPlot(const ForestPlot& plot);

}  // namespace leerlus::client

#endif  // LEERLUS_CLIENT_REPORT_SVG_PLOT_H_
