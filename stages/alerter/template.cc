#include "stages/alerter/template.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "stages/alerter/text.h"

namespace stages::alerter {

using pipeline::Error;
using pipeline::ErrorType;

namespace {

enum class Type { Number, String };
enum class ArgKind { Value, Label, Literal };
enum class Fn { None, Humanize, HumanizePercentage, HumanizeDuration, Printf };

struct Arg {
  ArgKind kind = ArgKind::Value;
  std::string text;  // the label name, or the literal
};

// One %verb of a printf format, or a run of literal text (verb == 0).
struct FormatPiece {
  std::string literal;
  char verb = 0;
  bool minus = false, plus = false, space = false, zero = false, sharp = false;
  int width = -1;
  int precision = -1;
};

struct Command {
  Fn fn = Fn::None;
  std::vector<Arg> args;            // without the piped-in value
  std::vector<FormatPiece> format;  // printf
};

struct Piece {
  std::string text;
  std::vector<Command> commands;  // empty: plain text
};

struct Value {
  Type type = Type::Number;
  double number = 0;
  std::string text;
};

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool isIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// %.4g as Go prints it (C's %.4g, but Go's spelling of infinities and NaN).
std::string goG4(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.4g", value);
  return buffer;
}

std::string pad(std::string text, const FormatPiece& piece, bool numeric) {
  if (piece.width < 0 || text.size() >= static_cast<std::size_t>(piece.width)) return text;
  const std::size_t fill = static_cast<std::size_t>(piece.width) - text.size();
  if (piece.minus) return text + std::string(fill, ' ');
  if (piece.zero && numeric) {
    const std::size_t sign =
        (!text.empty() && (text[0] == '-' || text[0] == '+' || text[0] == ' ')) ? 1 : 0;
    return text.insert(sign, fill, '0');
  }
  return std::string(fill, ' ') + text;
}

std::string formatVerb(const FormatPiece& piece, const Value& value) {
  if (value.type == Type::String) {
    std::string text = value.text;
    if (piece.precision >= 0 && text.size() > static_cast<std::size_t>(piece.precision)) {
      text.resize(static_cast<std::size_t>(piece.precision));
    }
    if (piece.verb == 'q') text = quote(text, QuoteStyle::Template);
    return pad(std::move(text), piece, false);
  }
  const double v = value.number;
  std::string text;
  if (std::isnan(v) || std::isinf(v)) {
    // Go keeps the sign of an infinity, shows NaN's only when asked, and never zero-pads them.
    if (std::isnan(v)) {
      text = piece.plus ? "+NaN" : (piece.space ? " NaN" : "NaN");
    } else {
      text = v < 0 ? "-Inf" : (piece.space && !piece.plus ? " Inf" : "+Inf");
    }
    return pad(std::move(text), piece, false);
  } else if (piece.verb == 'v' ||
             ((piece.verb == 'g' || piece.verb == 'G') && piece.precision < 0)) {
    text = formatGoFloat(v);
    if (piece.verb == 'G') {
      for (auto& c : text) {
        if (c == 'e') c = 'E';
      }
    }
    if (v >= 0 && !std::signbit(v)) {
      if (piece.plus)
        text.insert(0, 1, '+');
      else if (piece.space)
        text.insert(0, 1, ' ');
    }
  } else {
    std::string spec = "{:";
    if (piece.plus)
      spec += '+';
    else if (piece.space)
      spec += ' ';
    if (piece.sharp) spec += '#';
    const int precision = piece.precision >= 0 ? piece.precision : 6;
    spec += fmt::format(".{}", precision);
    spec += piece.verb == 'F' ? 'f' : piece.verb;
    spec += '}';
    try {
      text = fmt::vformat(spec, fmt::make_format_args(v));
    } catch (const fmt::format_error&) {  // not reached: parse() validated the verb
      text = fmt::format("%!{}(BADFORMAT)", piece.verb);
    }
  }
  return pad(std::move(text), piece, true);
}

std::string printValue(const Value& value) {
  return value.type == Type::String ? value.text : formatGoFloat(value.number);
}

Value call(const Command& command, const std::vector<Value>& args) {
  Value out;
  out.type = Type::String;
  switch (command.fn) {
    case Fn::None:
      return args.front();
    case Fn::Humanize:
      out.text = humanize(args.front().number);
      return out;
    case Fn::HumanizePercentage:
      out.text = humanizePercentage(args.front().number);
      return out;
    case Fn::HumanizeDuration:
      out.text = humanizeDuration(args.front().number);
      return out;
    case Fn::Printf: {
      std::size_t next = 1;  // args[0] is the format literal
      for (const auto& piece : command.format) {
        out.text += piece.verb == 0 ? piece.literal : formatVerb(piece, args[next++]);
      }
      return out;
    }
  }
  return out;
}

// Parses one action's body (between the delimiters); errors carry columns in the whole text.
class ActionParser {
 public:
  ActionParser(std::string_view text, std::size_t begin, std::size_t end)
      : text_(text), pos_(begin), end_(end) {}

  std::optional<std::vector<Command>> parse() {
    std::vector<Command> commands;
    std::optional<Type> piped;
    while (true) {
      skipSpace();
      const std::size_t command_pos = pos_;
      Command command;
      std::vector<Type> types;
      std::vector<std::size_t> positions;
      // The function name, if the command starts with one.
      if (pos_ < end_ && isIdentChar(text_[pos_]) && !(text_[pos_] >= '0' && text_[pos_] <= '9')) {
        const std::size_t start = pos_;
        while (pos_ < end_ && isIdentChar(text_[pos_])) ++pos_;
        const std::string_view name = text_.substr(start, pos_ - start);
        if (name == "humanize")
          command.fn = Fn::Humanize;
        else if (name == "humanizePercentage")
          command.fn = Fn::HumanizePercentage;
        else if (name == "humanizeDuration")
          command.fn = Fn::HumanizeDuration;
        else if (name == "printf")
          command.fn = Fn::Printf;
        else if (name == "if" || name == "else" || name == "end" || name == "range" ||
                 name == "with" || name == "define" || name == "template" || name == "block") {
          return fail(start, fmt::format("\"{}\" is not supported", name));
        } else {
          return fail(start, fmt::format("unknown function \"{}\" (use humanize, "
                                         "humanizePercentage, humanizeDuration or printf)",
                                         name));
        }
      } else if (!commands.empty()) {
        return fail(command_pos, "expected a function after '|'");
      }
      // Arguments up to '|' or the end.
      while (true) {
        skipSpace();
        if (pos_ >= end_ || text_[pos_] == '|') break;
        positions.push_back(pos_);
        auto arg = parseArg();
        if (!arg) return std::nullopt;
        types.push_back(arg->kind == ArgKind::Value ? Type::Number : Type::String);
        command.args.push_back(std::move(*arg));
      }
      if (command.fn == Fn::None) {
        if (command.args.empty()) return fail(command_pos, "empty action");
        if (command.args.size() > 1) {
          return fail(positions[1], "unexpected argument (only a function takes arguments)");
        }
      }
      if (piped) {
        types.push_back(*piped);
        positions.push_back(command_pos);
      }
      const auto type = check(command, types, positions, command_pos);
      if (!type) return std::nullopt;
      piped = *type;
      commands.push_back(std::move(command));
      if (pos_ >= end_) break;
      ++pos_;  // '|'
    }
    return commands;
  }

  const std::string& error() const { return error_; }

 private:
  std::nullopt_t fail(std::size_t pos, std::string message) {
    if (error_.empty()) error_ = fmt::format("col {}: {}", pos + 1, message);
    return std::nullopt;
  }

  void skipSpace() {
    while (pos_ < end_ && isSpace(text_[pos_])) ++pos_;
  }

  std::optional<Arg> parseArg() {
    const std::size_t start = pos_;
    const char c = text_[pos_];
    if (c == '$') {
      ++pos_;
      while (pos_ < end_ && (isIdentChar(text_[pos_]) || text_[pos_] == '.')) ++pos_;
      const std::string_view name = text_.substr(start, pos_ - start);
      if (name == "$value") return Arg{ArgKind::Value, {}};
      if (name.starts_with("$labels.")) {
        const std::string_view label = name.substr(8);
        if (label.empty() || label.find('.') != std::string_view::npos ||
            (label[0] >= '0' && label[0] <= '9')) {
          return fail(start, fmt::format("invalid label reference \"{}\"", name));
        }
        return Arg{ArgKind::Label, std::string(label)};
      }
      if (name == "$labels") {
        return fail(start, "$labels needs a label name: $labels.<name>");
      }
      return fail(start,
                  fmt::format("unknown variable \"{}\" (use $value or $labels.<name>)", name));
    }
    if (c == '"' || c == '`') return parseString();
    if (c == '.') {
      while (pos_ < end_ && !isSpace(text_[pos_]) && text_[pos_] != '|') ++pos_;
      return fail(start, fmt::format("unknown variable \"{}\" (use $value or $labels.<name>)",
                                     text_.substr(start, pos_ - start)));
    }
    if (c == '(' || c == ')') return fail(start, "parentheses are not supported");
    if (isIdentChar(c) && !(c >= '0' && c <= '9')) {
      while (pos_ < end_ && isIdentChar(text_[pos_])) ++pos_;
      return fail(start, fmt::format("unexpected \"{}\" (a function goes first in a command)",
                                     text_.substr(start, pos_ - start)));
    }
    while (pos_ < end_ && !isSpace(text_[pos_]) && text_[pos_] != '|') ++pos_;
    return fail(start, fmt::format("unexpected \"{}\"", text_.substr(start, pos_ - start)));
  }

  std::optional<Arg> parseString() {
    const std::size_t start = pos_;
    const char quote = text_[pos_++];
    std::string value;
    while (pos_ < end_ && text_[pos_] != quote) {
      char c = text_[pos_];
      if (quote == '"' && c == '\\' && pos_ + 1 < end_) {
        const std::optional<char> escaped = unescape(text_[pos_ + 1], "\\\"nt");
        if (!escaped) {
          return fail(pos_, fmt::format("unknown escape sequence '\\{}'", text_[pos_ + 1]));
        }
        c = *escaped;
        ++pos_;
      }
      value.push_back(c);
      ++pos_;
    }
    if (pos_ >= end_) return fail(start, "unterminated string");
    ++pos_;
    return Arg{ArgKind::Literal, std::move(value)};
  }

  // Checks the argument types of one command; returns its result type.
  std::optional<Type> check(Command& command, const std::vector<Type>& types,
                            const std::vector<std::size_t>& positions, std::size_t command_pos) {
    switch (command.fn) {
      case Fn::None:
        return types.front();
      case Fn::Humanize:
      case Fn::HumanizePercentage:
      case Fn::HumanizeDuration: {
        const std::string_view name = command.fn == Fn::Humanize             ? "humanize"
                                      : command.fn == Fn::HumanizePercentage ? "humanizePercentage"
                                                                             : "humanizeDuration";
        if (types.size() != 1) {
          return fail(command_pos,
                      fmt::format("{} takes one argument, got {}", name, types.size()));
        }
        if (types[0] != Type::Number) {
          return fail(positions[0], fmt::format("{} needs a number ($value)", name));
        }
        return Type::String;
      }
      case Fn::Printf: {
        if (command.args.empty() || command.args[0].kind != ArgKind::Literal) {
          return fail(command_pos, "printf needs a quoted format first");
        }
        if (!parseFormat(command.args[0].text, positions[0], command.format)) return std::nullopt;
        std::size_t arg = 1;
        for (const auto& piece : command.format) {
          if (piece.verb == 0) continue;
          if (arg >= types.size()) {
            return fail(positions[0], fmt::format("printf: the format has more verbs than the {} "
                                                  "argument(s) given",
                                                  types.size() - 1));
          }
          const bool number_verb =
              std::string_view("vfFeEgG").find(piece.verb) != std::string_view::npos;
          const bool string_verb =
              std::string_view("svq").find(piece.verb) != std::string_view::npos;
          if (types[arg] == Type::Number && !number_verb) {
            return fail(positions[0], fmt::format("printf: %{} does not fit a number (use %f, %e, "
                                                  "%g or %v; %.0f for no decimals)",
                                                  piece.verb));
          }
          if (types[arg] == Type::String && !string_verb) {
            return fail(
                positions[0],
                fmt::format("printf: %{} does not fit a string (use %s, %v or %q)", piece.verb));
          }
          ++arg;
        }
        if (arg != types.size()) {
          return fail(positions[arg], "printf: more arguments than verbs in the format");
        }
        return Type::String;
      }
    }
    return std::nullopt;
  }

  bool parseFormat(std::string_view format, std::size_t pos, std::vector<FormatPiece>& pieces) {
    std::string literal;
    for (std::size_t i = 0; i < format.size();) {
      if (format[i] != '%') {
        literal.push_back(format[i++]);
        continue;
      }
      if (i + 1 < format.size() && format[i + 1] == '%') {
        literal.push_back('%');
        i += 2;
        continue;
      }
      if (!literal.empty()) pieces.push_back(FormatPiece{std::move(literal)});
      literal.clear();
      FormatPiece piece;
      ++i;
      for (; i < format.size(); ++i) {
        const char f = format[i];
        if (f == '-')
          piece.minus = true;
        else if (f == '+')
          piece.plus = true;
        else if (f == ' ')
          piece.space = true;
        else if (f == '0')
          piece.zero = true;
        else if (f == '#')
          piece.sharp = true;
        else
          break;
      }
      const auto number = [&](int& out) {
        const std::size_t start = i;
        while (i < format.size() && format[i] >= '0' && format[i] <= '9') ++i;
        if (i == start) return;
        out = 0;
        std::from_chars(format.data() + start, format.data() + i, out);
      };
      number(piece.width);
      if (i < format.size() && format[i] == '.') {
        ++i;
        piece.precision = 0;
        number(piece.precision);
      }
      if (i >= format.size()) {
        fail(pos, "printf: the format ends inside a verb");
        return false;
      }
      piece.verb = format[i++];
      if (std::string_view("vfFeEgGsqd").find(piece.verb) == std::string_view::npos) {
        fail(pos, fmt::format("printf: unsupported verb %{}", piece.verb));
        return false;
      }
      if (piece.width > 64 || piece.precision > 64) {
        fail(pos, "printf: width and precision are limited to 64");
        return false;
      }
      pieces.push_back(piece);
    }
    if (!literal.empty()) pieces.push_back(FormatPiece{std::move(literal)});
    return true;
  }

  std::string_view text_;
  std::size_t pos_;
  std::size_t end_;
  std::string error_;
};

}  // namespace

struct Template::Impl {
  std::vector<Piece> pieces;
};

pipeline::Result<Template> Template::parse(std::string_view text) {
  auto impl = std::make_shared<Impl>();
  std::size_t pos = 0;
  bool trim_next = false;
  while (pos < text.size()) {
    const std::size_t open = text.find("{{", pos);
    std::string literal(text.substr(pos, open == std::string_view::npos ? text.npos : open - pos));
    if (trim_next) {
      std::size_t skip = 0;
      while (skip < literal.size() && isSpace(literal[skip])) ++skip;
      literal.erase(0, skip);
      trim_next = false;
    }
    if (open == std::string_view::npos) {
      if (!literal.empty()) impl->pieces.push_back(Piece{std::move(literal), {}});
      break;
    }
    // The action's end: the first "}}" outside a string literal.
    std::size_t begin = open + 2;
    const bool trim_left =
        begin + 1 < text.size() && text[begin] == '-' && isSpace(text[begin + 1]);
    if (trim_left) {
      ++begin;
      while (!literal.empty() && isSpace(literal.back())) literal.pop_back();
    }
    if (!literal.empty()) impl->pieces.push_back(Piece{std::move(literal), {}});
    std::size_t close = std::string_view::npos;
    for (std::size_t i = begin; i + 1 < text.size(); ++i) {
      const char c = text[i];
      if (c == '"' || c == '`') {
        for (++i; i < text.size() && text[i] != c; ++i) {
          if (c == '"' && text[i] == '\\') ++i;
        }
        continue;
      }
      if (c == '}' && text[i + 1] == '}') {
        close = i;
        break;
      }
    }
    if (close == std::string_view::npos) {
      return Error{ErrorType::InvalidConfig,
                   fmt::format("col {}: unclosed action (missing '}}}}')", open + 1)};
    }
    std::size_t end = close;
    if (end >= begin + 2 && text[end - 1] == '-' && isSpace(text[end - 2])) {
      --end;
      trim_next = true;
    }
    std::string_view body = text.substr(begin, end - begin);
    while (!body.empty() && isSpace(body.front())) body.remove_prefix(1);
    while (!body.empty() && isSpace(body.back())) body.remove_suffix(1);
    if (!(body.starts_with("/*") && body.ends_with("*/") && body.size() >= 4)) {
      ActionParser parser(text, begin, end);
      auto commands = parser.parse();
      if (!commands) return Error{ErrorType::InvalidConfig, parser.error()};
      impl->pieces.push_back(Piece{{}, std::move(*commands)});
    }
    pos = close + 2;
  }
  return Template(std::string(text), std::move(impl));
}

std::string Template::expand(const LabelSet& labels, double value) const {
  std::string out;
  for (const auto& piece : impl_->pieces) {
    if (piece.commands.empty()) {
      out += piece.text;
      continue;
    }
    std::optional<Value> piped;
    for (const auto& command : piece.commands) {
      std::vector<Value> args;
      args.reserve(command.args.size() + 1);
      for (const auto& arg : command.args) {
        Value v;
        switch (arg.kind) {
          case ArgKind::Value:
            v.number = value;
            break;
          case ArgKind::Label: {
            v.type = Type::String;
            const auto it = labels.find(arg.text);
            if (it != labels.end()) v.text = it->second;
            break;
          }
          case ArgKind::Literal:
            v.type = Type::String;
            v.text = arg.text;
            break;
        }
        args.push_back(std::move(v));
      }
      if (piped) args.push_back(std::move(*piped));
      piped = call(command, args);
    }
    out += printValue(*piped);
  }
  return out;
}

std::string formatGoFloat(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const auto scientific_end =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific).ptr;
  const std::string_view scientific(buffer, static_cast<std::size_t>(scientific_end - buffer));
  const auto e = scientific.find('e');
  int exponent = 0;
  std::from_chars(scientific.data() + e + (scientific[e + 1] == '+' ? 2 : 1),
                  scientific.data() + scientific.size(), exponent);
  // Go's %v is %g with the shortest precision, which switches to an exponent below 1e-4 and
  // from 1e+06 on (strconv.FormatFloat's 'g', eprec 6 when shortest).
  if (exponent < -4 || exponent >= 6) return std::string(scientific);
  const auto fixed_end =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed).ptr;
  return std::string(buffer, static_cast<std::size_t>(fixed_end - buffer));
}

std::string humanize(double value) {
  if (value == 0 || std::isnan(value) || std::isinf(value)) return goG4(value);
  if (std::fabs(value) >= 1) {
    std::string_view prefix;
    for (std::string_view p : {"k", "M", "G", "T", "P", "E", "Z", "Y"}) {
      if (std::fabs(value) < 1000) break;
      prefix = p;
      value /= 1000;
    }
    return goG4(value) + std::string(prefix);
  }
  std::string_view prefix;
  for (std::string_view p : {"m", "u", "n", "p", "f", "a", "z", "y"}) {
    if (std::fabs(value) >= 1) break;
    prefix = p;
    value *= 1000;
  }
  return goG4(value) + std::string(prefix);
}

std::string humanizePercentage(double value) { return goG4(value * 100) + "%"; }

std::string humanizeDuration(double seconds) {
  if (std::isnan(seconds) || std::isinf(seconds)) return goG4(seconds);
  if (seconds == 0) return goG4(seconds) + "s";
  if (std::fabs(seconds) >= 1) {
    std::string sign;
    double v = seconds;
    if (v < 0) {
      sign = "-";
      v = -v;
    }
    const auto duration = static_cast<std::int64_t>(v);
    const std::int64_t secs = duration % 60;
    const std::int64_t minutes = (duration / 60) % 60;
    const std::int64_t hours = (duration / 60 / 60) % 24;
    const std::int64_t days = duration / 60 / 60 / 24;
    if (days != 0) return fmt::format("{}{}d {}h {}m {}s", sign, days, hours, minutes, secs);
    if (hours != 0) return fmt::format("{}{}h {}m {}s", sign, hours, minutes, secs);
    if (minutes != 0) return fmt::format("{}{}m {}s", sign, minutes, secs);
    return sign + goG4(v) + "s";
  }
  std::string_view prefix;
  double v = seconds;
  for (std::string_view p : {"m", "u", "n", "p", "f", "a", "z", "y"}) {
    if (std::fabs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return goG4(v) + std::string(prefix) + "s";
}

}  // namespace stages::alerter
