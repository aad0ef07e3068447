#include "stages/alerter/template.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace stages::alerter {
namespace {

const LabelSet kLabels{{"instance", "host-1"}, {"stage", "db"}};

std::string expand(std::string_view text, double value, const LabelSet& labels = kLabels) {
  auto parsed = Template::parse(text);
  if (!parsed) return "error: " + parsed.error().message;
  return parsed->expand(labels, value);
}

std::string parseError(std::string_view text) {
  auto parsed = Template::parse(text);
  if (parsed) return "parsed";
  EXPECT_EQ(pipeline::ErrorType::InvalidConfig, parsed.error().type);
  return parsed.error().message;
}

// {{ $value }} prints like Go's %v: shortest digits, exponent from 1e+06 and below 1e-04.
TEST(TemplateTest, ValuePrintsLikeGo) {
  EXPECT_EQ("0.5", formatGoFloat(0.5));
  EXPECT_EQ("100", formatGoFloat(100));
  EXPECT_EQ("123456", formatGoFloat(123456));
  EXPECT_EQ("1e+06", formatGoFloat(1e6));
  EXPECT_EQ("1.234567e+06", formatGoFloat(1234567));
  EXPECT_EQ("0.0001", formatGoFloat(0.0001));
  EXPECT_EQ("1e-05", formatGoFloat(0.00001));
  EXPECT_EQ("1.5e-07", formatGoFloat(1.5e-7));
  EXPECT_EQ("-2.5", formatGoFloat(-2.5));
  EXPECT_EQ("0", formatGoFloat(0));
  EXPECT_EQ("NaN", formatGoFloat(std::nan("")));
  EXPECT_EQ("+Inf", formatGoFloat(std::numeric_limits<double>::infinity()));
  EXPECT_EQ("-Inf", formatGoFloat(-std::numeric_limits<double>::infinity()));
}

// Prometheus's humanize functions, value for value.
TEST(TemplateTest, HumanizeFunctions) {
  EXPECT_EQ("1.234k", humanize(1234));
  EXPECT_EQ("12.35M", humanize(12345678));
  EXPECT_EQ("1M", humanize(1e6));
  EXPECT_EQ("-1.5k", humanize(-1500));
  EXPECT_EQ("999", humanize(999));
  EXPECT_EQ("1", humanize(1));
  EXPECT_EQ("0", humanize(0));
  EXPECT_EQ("500m", humanize(0.5));
  EXPECT_EQ("1.234m", humanize(0.001234));
  EXPECT_EQ("+Inf", humanize(std::numeric_limits<double>::infinity()));
  EXPECT_EQ("12.34%", humanizePercentage(0.1234));
  EXPECT_EQ("0%", humanizePercentage(0));
  EXPECT_EQ("1h 2m 5s", humanizeDuration(3725));
  EXPECT_EQ("-1h 2m 5s", humanizeDuration(-3725));
  EXPECT_EQ("1d 1h 1m 1s", humanizeDuration(90061));
  EXPECT_EQ("1m 1s", humanizeDuration(61.9));
  EXPECT_EQ("59.99s", humanizeDuration(59.99));
  EXPECT_EQ("1.5s", humanizeDuration(1.5));
  EXPECT_EQ("250ms", humanizeDuration(0.25));
  EXPECT_EQ("0s", humanizeDuration(0));
}

// Variables, pipes and functions expand with the series' labels and the value.
TEST(TemplateTest, Expands) {
  EXPECT_EQ("value 0.25", expand("value {{ $value }}", 0.25));
  EXPECT_EQ("No record persisted for 5 minutes (host-1)",
            expand("No record persisted for 5 minutes ({{ $labels.instance }})", 0));
  EXPECT_EQ("[]", expand("[{{ $labels.missing }}]", 0));
  EXPECT_EQ("1.234k", expand("{{ $value | humanize }}", 1234));
  EXPECT_EQ("1.234k", expand("{{humanize $value}}", 1234));
  EXPECT_EQ("12.34%", expand("{{ humanizePercentage $value }}", 0.1234));
  EXPECT_EQ("1h 2m 5s", expand("{{ $value | humanizeDuration }}", 3725));
  EXPECT_EQ("3.14", expand(R"({{ printf "%.2f" $value }})", 3.14159));
  EXPECT_EQ("12.3%", expand(R"({{ $value | printf "%.1f%%" }})", 12.345));
  EXPECT_EQ(
      "host-1 has   3.14|db   |003.1|\"db\"|+3.1e+00|3.14159|3.14159|3.142",
      expand(
          R"({{ printf "%s has %6.2f|%-5s|%05.1f|%q|%+.1e|%v|%g|%.4g" $labels.instance $value $labels.stage $value $labels.stage $value $value $value $value }})",
          3.14159));
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ("  +Inf|", expand(R"({{ printf "%6.1f|" $value }})", inf));
  EXPECT_EQ("  +Inf", expand(R"({{ printf "%06.1f" $value }})", inf)) << "no zero padding";
  EXPECT_EQ("  NaN", expand(R"({{ printf "%5.1f" $value }})", std::nan("")));
  EXPECT_EQ("-001.5", expand(R"({{ printf "%06.1f" $value }})", -1.5));
  EXPECT_EQ("+Inf",
            expand(R"({{ printf "%.2f" $value }})", std::numeric_limits<double>::infinity()));
  EXPECT_EQ("quoted", expand(R"({{ "quoted" }})", 0));
}

// {{- and -}} trim whitespace, comments vanish, and "}}" inside a string does not end an action.
TEST(TemplateTest, TrimmingCommentsAndBraces) {
  EXPECT_EQ("a0.5b", expand("a  \n{{- $value -}}\n  b", 0.5));
  EXPECT_EQ("a 0.5 b", expand("a {{ $value }} b", 0.5));
  EXPECT_EQ("xy", expand("x{{/* a note */}}y", 0));
  EXPECT_EQ("}}0.5", expand(R"({{ printf "}}%.1f" $value }})", 0.5));
  EXPECT_EQ("plain { text }} here", expand("plain { text }} here", 0));
  EXPECT_EQ("", expand("", 0));
}

// Anything outside the supported subset is an error at parse time, with its column.
TEST(TemplateTest, ErrorsAtParseTime) {
  EXPECT_EQ(R"(col 4: unknown variable "$foo" (use $value or $labels.<name>))",
            parseError("{{ $foo }}"));
  EXPECT_EQ(R"(col 4: unknown variable ".Value" (use $value or $labels.<name>))",
            parseError("{{ .Value }}"));
  EXPECT_EQ("col 4: $labels needs a label name: $labels.<name>", parseError("{{ $labels }}"));
  EXPECT_EQ("col 5: unclosed action (missing '}}')", parseError("abc {{ $value"));
  EXPECT_EQ(
      R"(col 4: unknown function "upper" (use humanize, humanizePercentage, humanizeDuration or printf))",
      parseError("{{ upper $value }}"));
  EXPECT_EQ(R"(col 4: "if" is not supported)", parseError("{{ if $value }}x{{ end }}"));
  EXPECT_EQ("col 4: empty action", parseError("{{ }}"));
  EXPECT_EQ("col 11: unexpected argument (only a function takes arguments)",
            parseError("{{ $value $value }}"));
  EXPECT_EQ("col 13: expected a function after '|'", parseError("{{ $value | $value }}"));
  EXPECT_EQ("col 13: humanize needs a number ($value)", parseError("{{ humanize $labels.x }}"));
  EXPECT_EQ("col 4: humanize takes one argument, got 0", parseError("{{ humanize }}"));
  EXPECT_EQ("col 11: printf: %d does not fit a number (use %f, %e, %g or %v; %.0f for no decimals)",
            parseError(R"({{ printf "%d" $value }})"));
  EXPECT_EQ("col 11: printf: %f does not fit a string (use %s, %v or %q)",
            parseError(R"({{ printf "%f" $labels.a }})"));
  EXPECT_EQ("col 11: printf: the format has more verbs than the 1 argument(s) given",
            parseError(R"({{ printf "%s %s" $labels.a }})"));
  EXPECT_EQ("col 26: printf: more arguments than verbs in the format",
            parseError(R"({{ printf "%s" $labels.a $value }})"));
  EXPECT_EQ("col 11: printf: the format ends inside a verb",
            parseError(R"({{ printf "%" $value }})"));
  EXPECT_EQ("col 11: printf: unsupported verb %x", parseError(R"({{ printf "%x" $value }})"));
  EXPECT_EQ("col 4: printf needs a quoted format first", parseError("{{ printf $value }}"));
  EXPECT_EQ("col 1: unclosed action (missing '}}')", parseError(R"({{ printf "%f }})"));
  EXPECT_EQ("col 14: unknown escape sequence '\\q'", parseError(R"({{ printf "%f\q" $value }})"));
}

}  // namespace
}  // namespace stages::alerter
