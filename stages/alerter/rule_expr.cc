#include "stages/alerter/rule_expr.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <regex>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "stages/alerter/regex.h"
#include "stages/alerter/text.h"

namespace stages::alerter {

using pipeline::Error;
using pipeline::ErrorType;

namespace {

enum class Kind {
  Number,
  Time,
  Selector,
  RangeFunction,
  Absent,
  AbsentOverTime,
  Aggregate,
  Binary,
  Negate
};
enum class RangeFn { Rate, Increase, Delta, MaxOverTime, MinOverTime, AvgOverTime };
enum class AggOp { Sum, Min, Max, Avg, Count };
enum class BinOp { Add, Sub, Mul, Div, Eq, Ne, Gt, Ge, Lt, Le };
enum class MatchOp { Equal, NotEqual, Regex, NotRegex };

struct Matcher {
  std::string name;
  MatchOp op = MatchOp::Equal;
  std::string value;
  std::shared_ptr<const std::regex> regex;  // Regex and NotRegex

  bool matches(const LabelSet& labels) const {
    static const std::string kEmpty;
    const auto it = labels.find(name);
    const std::string& actual = it == labels.end() ? kEmpty : it->second;
    switch (op) {
      case MatchOp::Equal:
        return actual == value;
      case MatchOp::NotEqual:
        return actual != value;
      case MatchOp::Regex:
        return std::regex_match(actual, *regex);
      case MatchOp::NotRegex:
        return !std::regex_match(actual, *regex);
    }
    return false;
  }
};

bool isComparison(BinOp op) {
  return op == BinOp::Eq || op == BinOp::Ne || op == BinOp::Gt || op == BinOp::Ge ||
         op == BinOp::Lt || op == BinOp::Le;
}

int precedence(BinOp op) {
  switch (op) {
    case BinOp::Mul:
    case BinOp::Div:
      return 3;
    case BinOp::Add:
    case BinOp::Sub:
      return 2;
    default:
      return 1;
  }
}

std::string_view binOpText(BinOp op) {
  switch (op) {
    case BinOp::Add:
      return "+";
    case BinOp::Sub:
      return "-";
    case BinOp::Mul:
      return "*";
    case BinOp::Div:
      return "/";
    case BinOp::Eq:
      return "==";
    case BinOp::Ne:
      return "!=";
    case BinOp::Gt:
      return ">";
    case BinOp::Ge:
      return ">=";
    case BinOp::Lt:
      return "<";
    case BinOp::Le:
      return "<=";
  }
  return "?";
}

std::string_view rangeFnName(RangeFn fn) {
  switch (fn) {
    case RangeFn::Rate:
      return "rate";
    case RangeFn::Increase:
      return "increase";
    case RangeFn::Delta:
      return "delta";
    case RangeFn::MaxOverTime:
      return "max_over_time";
    case RangeFn::MinOverTime:
      return "min_over_time";
    case RangeFn::AvgOverTime:
      return "avg_over_time";
  }
  return "?";
}

std::string_view aggName(AggOp op) {
  switch (op) {
    case AggOp::Sum:
      return "sum";
    case AggOp::Min:
      return "min";
    case AggOp::Max:
      return "max";
    case AggOp::Avg:
      return "avg";
    case AggOp::Count:
      return "count";
  }
  return "?";
}

std::optional<RangeFn> rangeFnFromName(std::string_view name) {
  for (auto fn : {RangeFn::Rate, RangeFn::Increase, RangeFn::Delta, RangeFn::MaxOverTime,
                  RangeFn::MinOverTime, RangeFn::AvgOverTime}) {
    if (rangeFnName(fn) == name) return fn;
  }
  return std::nullopt;
}

std::optional<AggOp> aggFromName(std::string_view name) {
  for (auto op : {AggOp::Sum, AggOp::Min, AggOp::Max, AggOp::Avg, AggOp::Count}) {
    if (aggName(op) == name) return op;
  }
  return std::nullopt;
}

}  // namespace

struct Expr::Node {
  Kind kind = Kind::Number;
  bool scalar = false;  // the type of the result: scalar or instant vector
  double number = 0;    // Number
  // Selector, RangeFunction, Absent, AbsentOverTime: the selector.
  std::string metric;
  std::vector<Matcher> matchers;
  std::int64_t range_ms = 0;
  RangeFn range_fn = RangeFn::Rate;
  // Aggregate
  AggOp agg = AggOp::Sum;
  bool without = false;
  std::vector<std::string> grouping;
  // Binary
  BinOp op = BinOp::Add;
  bool has_matching = false;
  bool on = false;  // on(...) when true, ignoring(...) when false
  std::vector<std::string> matching;
  std::shared_ptr<const Node> lhs;  // also the operand of Aggregate and Negate
  std::shared_ptr<const Node> rhs;
};

using Node = Expr::Node;
using NodePtr = std::shared_ptr<const Node>;

// ---------------------------------------------------------------------------------------------
// Durations

std::optional<std::int64_t> parseDuration(std::string_view text) {
  struct Unit {
    std::string_view suffix;
    std::int64_t ms;
  };
  static constexpr Unit kUnits[] = {{"ms", 1},        {"s", 1000},       {"m", 60'000},
                                    {"h", 3'600'000}, {"d", 86'400'000}, {"w", 604'800'000},
                                    {"y", 31'536'000'000}};
  if (text == "0") return 0;  // Prometheus and Alertmanager accept a bare zero
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  int last_unit = -1;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t digits_end = pos;
    while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9')
      ++digits_end;
    if (digits_end == pos) return std::nullopt;
    std::int64_t count = 0;
    const auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + digits_end, count);
    if (ec != std::errc() || ptr != text.data() + digits_end) return std::nullopt;
    pos = digits_end;
    int unit = -1;
    // "ms" before "m": try the longest suffix first.
    if (text.substr(pos, 2) == "ms") {
      unit = 0;
    } else if (pos < text.size()) {
      for (int i = 1; i < static_cast<int>(std::size(kUnits)); ++i) {
        if (text[pos] == kUnits[i].suffix[0]) unit = i;
      }
    }
    if (unit < 0) return std::nullopt;
    // Units must strictly decrease in size ("1h30m", not "30m1h" or "1m1m").
    if (last_unit >= 0 && unit >= last_unit) return std::nullopt;
    last_unit = unit;
    pos += kUnits[unit].suffix.size();
    if (count > (std::int64_t{1} << 52) / kUnits[unit].ms) return std::nullopt;
    total += count * kUnits[unit].ms;
  }
  return total;
}

std::string formatDuration(std::int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out += '-';
    ms = -ms;
  }
  struct Unit {
    std::int64_t ms;
    std::string_view suffix;
  };
  static constexpr Unit kUnits[] = {{604'800'000, "w"}, {86'400'000, "d"}, {3'600'000, "h"},
                                    {60'000, "m"},      {1000, "s"},       {1, "ms"}};
  for (const auto& unit : kUnits) {
    if (ms >= unit.ms) {
      out += fmt::format("{}{}", ms / unit.ms, unit.suffix);
      ms %= unit.ms;
    }
  }
  return out;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Lexer

enum class Tok {
  End,
  Ident,
  Number,
  String,
  LParen,
  RParen,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  Comma,
  Assign,
  NotEqual,
  RegexMatch,
  RegexNotMatch,
  EqEq,
  Gt,
  Ge,
  Lt,
  Le,
  Plus,
  Minus,
  Star,
  Slash,
  Invalid
};

struct Token {
  Tok kind = Tok::End;
  std::size_t pos = 0;  // 0-based byte offset
  std::string text;     // Ident: the name; String: the unquoted value; Invalid: the problem
  double number = 0;
};

bool isDigit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  std::size_t pos() const { return pos_; }
  std::string_view text() const { return text_; }

  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  Token next() {
    skipSpace();
    Token token;
    token.pos = pos_;
    if (pos_ >= text_.size()) return token;
    const char c = text_[pos_];
    const char n = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    if (isMetricNameStart(c)) {
      const std::size_t start = pos_;
      while (pos_ < text_.size() && isMetricNameChar(text_[pos_])) ++pos_;
      token.text = std::string(text_.substr(start, pos_ - start));
      if (equalsIgnoreCase(token.text, "inf") || equalsIgnoreCase(token.text, "nan")) {
        token.kind = Tok::Number;
        token.number = equalsIgnoreCase(token.text, "inf") ? HUGE_VAL : std::nan("");
      } else {
        token.kind = Tok::Ident;
      }
      return token;
    }
    if (isDigit(c) || (c == '.' && isDigit(n))) return lexNumber(token);
    if (c == '"' || c == '\'') return lexString(token, c);
    const auto single = [&](Tok kind) {
      ++pos_;
      token.kind = kind;
      return token;
    };
    const auto twice = [&](Tok kind) {
      pos_ += 2;
      token.kind = kind;
      return token;
    };
    switch (c) {
      case '(':
        return single(Tok::LParen);
      case ')':
        return single(Tok::RParen);
      case '{':
        return single(Tok::LBrace);
      case '}':
        return single(Tok::RBrace);
      case '[':
        return single(Tok::LBracket);
      case ']':
        return single(Tok::RBracket);
      case ',':
        return single(Tok::Comma);
      case '+':
        return single(Tok::Plus);
      case '-':
        return single(Tok::Minus);
      case '*':
        return single(Tok::Star);
      case '/':
        return single(Tok::Slash);
      case '=':
        if (n == '=') return twice(Tok::EqEq);
        if (n == '~') return twice(Tok::RegexMatch);
        return single(Tok::Assign);
      case '!':
        if (n == '=') return twice(Tok::NotEqual);
        if (n == '~') return twice(Tok::RegexNotMatch);
        break;
      case '>':
        if (n == '=') return twice(Tok::Ge);
        return single(Tok::Gt);
      case '<':
        if (n == '=') return twice(Tok::Le);
        return single(Tok::Lt);
      default:
        break;
    }
    token.kind = Tok::Invalid;
    token.text = fmt::format("unexpected character '{}'", c);
    return token;
  }

  /** Reads a run of letters and digits (a duration inside [...]). */
  std::string_view word() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() &&
           (isDigit(text_[pos_]) || (text_[pos_] >= 'a' && text_[pos_] <= 'z') ||
            (text_[pos_] >= 'A' && text_[pos_] <= 'Z'))) {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

 private:
  Token lexNumber(Token& token) {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && (isDigit(text_[pos_]) || text_[pos_] == '.')) ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      std::size_t exp = pos_ + 1;
      if (exp < text_.size() && (text_[exp] == '+' || text_[exp] == '-')) ++exp;
      if (exp < text_.size() && isDigit(text_[exp])) {
        pos_ = exp;
        while (pos_ < text_.size() && isDigit(text_[pos_])) ++pos_;
      }
    }
    const auto [ptr, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, token.number);
    if ((ec != std::errc() && ec != std::errc::result_out_of_range) || ptr != text_.data() + pos_ ||
        (pos_ < text_.size() && isMetricNameChar(text_[pos_]))) {
      token.kind = Tok::Invalid;
      token.text = "invalid number";
      return token;
    }
    token.kind = Tok::Number;
    return token;
  }

  Token lexString(Token& token, char quote) {
    ++pos_;
    std::string value;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_];
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) break;
        const char e = text_[pos_ + 1];
        const std::optional<char> escaped = unescape(e, "\\\"'ntr");
        if (!escaped) {
          token.kind = Tok::Invalid;
          token.pos = pos_;
          token.text = fmt::format("unknown escape sequence '\\{}'", e);
          return token;
        }
        c = *escaped;
        pos_ += 2;
        value.push_back(c);
        continue;
      }
      value.push_back(c);
      ++pos_;
    }
    if (pos_ >= text_.size()) {
      token.kind = Tok::Invalid;
      token.text = "unterminated string";
      return token;
    }
    ++pos_;  // closing quote
    token.kind = Tok::String;
    token.text = std::move(value);
    return token;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent; the first error wins and every parse function then returns null.

class Parser {
 public:
  explicit Parser(std::string_view text) : lexer_(text) { advance(); }

  NodePtr parseAll() {
    auto node = parseExpr();
    if (!node) return nullptr;
    if (token_.kind != Tok::End) return fail(token_.pos, unexpected());
    if (node->scalar) return fail(0, "the expression yields a scalar; it must yield a vector");
    return node;
  }

  const std::string& error() const { return error_; }

 private:
  void advance() { token_ = lexer_.next(); }

  std::nullptr_t fail(std::size_t pos, std::string message) {
    if (error_.empty()) error_ = fmt::format("col {}: {}", pos + 1, message);
    return nullptr;
  }

  std::string unexpected() const {
    switch (token_.kind) {
      case Tok::End:
        return "unexpected end of expression";
      case Tok::Invalid:
        return token_.text;
      case Tok::Ident:
        return fmt::format("unexpected '{}'", token_.text);
      case Tok::Number:
        return "unexpected number";
      case Tok::String:
        return "unexpected string";
      default:
        return fmt::format("unexpected '{}'",
                           lexer_.text().substr(token_.pos, lexer_.pos() - token_.pos));
    }
  }

  bool expect(Tok kind, std::string_view what) {
    if (token_.kind != kind) {
      if (token_.kind == Tok::Invalid) return fail(token_.pos, token_.text), false;
      return fail(token_.pos, fmt::format("expected {}", what)), false;
    }
    advance();
    return true;
  }

  std::optional<BinOp> binaryOp(int level) const {
    std::optional<BinOp> op;
    switch (token_.kind) {
      case Tok::EqEq:
        op = BinOp::Eq;
        break;
      case Tok::NotEqual:
        op = BinOp::Ne;
        break;
      case Tok::Gt:
        op = BinOp::Gt;
        break;
      case Tok::Ge:
        op = BinOp::Ge;
        break;
      case Tok::Lt:
        op = BinOp::Lt;
        break;
      case Tok::Le:
        op = BinOp::Le;
        break;
      case Tok::Plus:
        op = BinOp::Add;
        break;
      case Tok::Minus:
        op = BinOp::Sub;
        break;
      case Tok::Star:
        op = BinOp::Mul;
        break;
      case Tok::Slash:
        op = BinOp::Div;
        break;
      default:
        return std::nullopt;
    }
    if (precedence(*op) != level) return std::nullopt;
    return op;
  }

  NodePtr parseExpr() { return parseBinary(1); }

  // Left-associative binary operators of precedence `level` (1: comparisons, 2: + -, 3: * /).
  NodePtr parseBinary(int level) {
    auto lhs = level == 3 ? parseUnary() : parseBinary(level + 1);
    if (!lhs) return nullptr;
    while (const auto op = binaryOp(level)) {
      const std::size_t op_pos = token_.pos;
      advance();
      auto node = std::make_shared<Node>();
      node->kind = Kind::Binary;
      node->op = *op;
      if (token_.kind == Tok::Ident && token_.text == "bool") {
        return fail(token_.pos, "the bool modifier is not supported");
      }
      if (token_.kind == Tok::Ident && (token_.text == "on" || token_.text == "ignoring")) {
        node->has_matching = true;
        node->on = token_.text == "on";
        const std::size_t matching_pos = token_.pos;
        advance();
        if (!parseLabelList(node->matching)) return nullptr;
        if (token_.kind == Tok::Ident &&
            (token_.text == "group_left" || token_.text == "group_right")) {
          return fail(token_.pos, fmt::format("{} is not supported", token_.text));
        }
        if (lhs->scalar) {
          return fail(matching_pos, "on/ignoring needs vectors on both sides");
        }
      }
      auto rhs = level == 3 ? parseUnary() : parseBinary(level + 1);
      if (!rhs) return nullptr;
      if (node->has_matching && rhs->scalar) {
        return fail(op_pos, "on/ignoring needs vectors on both sides");
      }
      if (isComparison(*op) && lhs->scalar && rhs->scalar) {
        return fail(op_pos, "comparisons between two scalars are not supported");
      }
      node->scalar = lhs->scalar && rhs->scalar;
      node->lhs = std::move(lhs);
      node->rhs = std::move(rhs);
      lhs = std::move(node);
    }
    return lhs;
  }

  NodePtr parseUnary() {
    if (token_.kind == Tok::Minus || token_.kind == Tok::Plus) {
      const bool negate = token_.kind == Tok::Minus;
      advance();
      auto operand = parseUnary();
      if (!operand || !negate) return operand;
      auto node = std::make_shared<Node>();
      if (operand->kind == Kind::Number) {
        node->kind = Kind::Number;
        node->scalar = true;
        node->number = -operand->number;
        return node;
      }
      node->kind = Kind::Negate;
      node->scalar = operand->scalar;
      node->lhs = std::move(operand);
      return node;
    }
    return parsePrimary();
  }

  NodePtr parsePrimary() {
    switch (token_.kind) {
      case Tok::Number: {
        auto node = std::make_shared<Node>();
        node->kind = Kind::Number;
        node->scalar = true;
        node->number = token_.number;
        advance();
        return node;
      }
      case Tok::LParen: {
        advance();
        auto inner = parseExpr();
        if (!inner || !expect(Tok::RParen, "')'")) return nullptr;
        return inner;
      }
      case Tok::Ident:
        return parseIdentifier();
      case Tok::Invalid:
        return fail(token_.pos, token_.text);
      case Tok::LBrace:
        return fail(token_.pos, "a selector needs a metric name (name{...})");
      default:
        return fail(token_.pos, "expected an expression");
    }
  }

  NodePtr parseIdentifier() {
    const Token name = token_;
    advance();
    if (const auto agg = aggFromName(name.text);
        agg && (token_.kind == Tok::LParen ||
                (token_.kind == Tok::Ident && (token_.text == "by" || token_.text == "without")))) {
      return parseAggregation(*agg);
    }
    if (token_.kind == Tok::LParen) return parseFunction(name);
    auto selector = parseSelector(name);
    if (!selector) return nullptr;
    if (token_.kind == Tok::LBracket) {
      return fail(token_.pos,
                  "a range selector is only allowed inside rate, increase, delta, "
                  "*_over_time or absent_over_time");
    }
    if (token_.kind == Tok::Ident && (token_.text == "offset")) {
      return fail(token_.pos, "offset is not supported");
    }
    return selector;
  }

  NodePtr parseAggregation(AggOp op) {
    auto node = std::make_shared<Node>();
    node->kind = Kind::Aggregate;
    node->agg = op;
    bool grouped = false;
    if (token_.kind == Tok::Ident && (token_.text == "by" || token_.text == "without")) {
      node->without = token_.text == "without";
      grouped = true;
      advance();
      if (!parseLabelList(node->grouping)) return nullptr;
    }
    if (!expect(Tok::LParen, "'('")) return nullptr;
    const std::size_t operand_pos = token_.pos;
    auto operand = parseExpr();
    if (!operand) return nullptr;
    if (operand->scalar) return fail(operand_pos, fmt::format("{}() needs a vector", aggName(op)));
    if (token_.kind == Tok::Comma) {
      return fail(token_.pos, fmt::format("{}() takes one argument", aggName(op)));
    }
    if (!expect(Tok::RParen, "')'")) return nullptr;
    if (token_.kind == Tok::Ident && (token_.text == "by" || token_.text == "without")) {
      if (grouped) return fail(token_.pos, "by/without given twice");
      node->without = token_.text == "without";
      advance();
      if (!parseLabelList(node->grouping)) return nullptr;
    }
    node->lhs = std::move(operand);
    return node;
  }

  NodePtr parseFunction(const Token& name) {
    advance();  // '('
    auto node = std::make_shared<Node>();
    if (name.text == "time") {
      node->kind = Kind::Time;
      node->scalar = true;
      if (!expect(Tok::RParen, "')' (time() takes no argument)")) return nullptr;
      return node;
    }
    const auto range_fn = rangeFnFromName(name.text);
    const bool absent = name.text == "absent";
    const bool absent_over_time = name.text == "absent_over_time";
    if (!range_fn && !absent && !absent_over_time) {
      return fail(name.pos, fmt::format("unknown or unsupported function \"{}\"", name.text));
    }
    const bool wants_range = !absent;
    if (token_.kind != Tok::Ident) {
      return fail(token_.pos, wants_range ? fmt::format("expected a range selector like "
                                                        "metric[5m] ({}() takes one)",
                                                        name.text)
                                          : std::string("expected a selector"));
    }
    const Token metric = token_;
    advance();
    if (token_.kind == Tok::LParen) {
      return fail(metric.pos, fmt::format("{}() takes a selector, not an expression", name.text));
    }
    auto selector = parseSelector(metric);
    if (!selector) return nullptr;
    auto& target = *node;
    target.metric = selector->metric;
    target.matchers = selector->matchers;
    if (wants_range) {
      if (token_.kind != Tok::LBracket) {
        return fail(token_.pos,
                    fmt::format("expected '[' ({}() needs a range like metric[5m])", name.text));
      }
      if (!parseRange(target.range_ms)) return nullptr;
    } else if (token_.kind == Tok::LBracket) {
      return fail(token_.pos,
                  "absent() takes an instant selector; use absent_over_time() for a range");
    }
    if (token_.kind == Tok::Ident && token_.text == "offset") {
      return fail(token_.pos, "offset is not supported");
    }
    if (token_.kind == Tok::Comma) {
      return fail(token_.pos, fmt::format("{}() takes one argument", name.text));
    }
    if (!expect(Tok::RParen, "')'")) return nullptr;
    if (range_fn) {
      target.kind = Kind::RangeFunction;
      target.range_fn = *range_fn;
    } else {
      target.kind = absent ? Kind::Absent : Kind::AbsentOverTime;
    }
    return node;
  }

  // At '[' (the lexer is just past it): a duration, then ']'.
  bool parseRange(std::int64_t& range_ms) {
    lexer_.skipSpace();
    const std::size_t start = lexer_.pos();
    const std::string_view raw = lexer_.word();
    lexer_.skipSpace();
    if (lexer_.peek() == ':') return fail(lexer_.pos(), "subqueries are not supported"), false;
    const auto duration = parseDuration(raw);
    if (!duration || *duration <= 0) {
      return fail(start, "expected a duration like 5m (units ms, s, m, h, d, w)"), false;
    }
    range_ms = *duration;
    advance();
    return expect(Tok::RBracket, "']'");
  }

  NodePtr parseSelector(const Token& name) {
    auto node = std::make_shared<Node>();
    node->kind = Kind::Selector;
    node->metric = name.text;
    if (name.text == "by" || name.text == "without" || name.text == "on" ||
        name.text == "ignoring" || name.text == "bool" || name.text == "offset" ||
        name.text == "and" || name.text == "or" || name.text == "unless") {
      return fail(name.pos, fmt::format("unexpected keyword '{}'", name.text));
    }
    if (token_.kind != Tok::LBrace) return node;
    advance();
    while (token_.kind != Tok::RBrace) {
      if (token_.kind != Tok::Ident) {
        if (token_.kind == Tok::Invalid) return fail(token_.pos, token_.text);
        return fail(token_.pos, "expected a label name or '}'");
      }
      Matcher matcher;
      matcher.name = token_.text;
      const std::size_t label_pos = token_.pos;
      if (matcher.name == "__name__") {
        return fail(label_pos, "__name__ matchers are not supported; write the metric name");
      }
      if (!isLabelName(matcher.name)) {
        return fail(label_pos, fmt::format("invalid label name \"{}\"", matcher.name));
      }
      advance();
      switch (token_.kind) {
        case Tok::Assign:
          matcher.op = MatchOp::Equal;
          break;
        case Tok::NotEqual:
          matcher.op = MatchOp::NotEqual;
          break;
        case Tok::RegexMatch:
          matcher.op = MatchOp::Regex;
          break;
        case Tok::RegexNotMatch:
          matcher.op = MatchOp::NotRegex;
          break;
        case Tok::EqEq:
          return fail(token_.pos, "expected one of =, !=, =~, !~ (not ==)");
        default:
          return fail(token_.pos, "expected one of =, !=, =~, !~");
      }
      advance();
      if (token_.kind != Tok::String) {
        if (token_.kind == Tok::Invalid) return fail(token_.pos, token_.text);
        return fail(token_.pos, "expected a quoted string");
      }
      matcher.value = token_.text;
      if (matcher.op == MatchOp::Regex || matcher.op == MatchOp::NotRegex) {
        // Unanchored, unlike notify/matcher.cc: regex_match is whole-text either way, and
        // wrapping the value in ^(?:...)$ would change which texts compile ("a)|(b").
        auto regex = compileRegex(matcher.value);
        if (!regex) {
          return fail(token_.pos, fmt::format("invalid regular expression \"{}\": {}",
                                              matcher.value, regex.error().message));
        }
        matcher.regex = std::move(*regex);
      }
      advance();
      node->matchers.push_back(std::move(matcher));
      if (token_.kind == Tok::Comma) {
        advance();
      } else if (token_.kind != Tok::RBrace) {
        if (token_.kind == Tok::Invalid) return fail(token_.pos, token_.text);
        return fail(token_.pos, "expected ',' or '}'");
      }
    }
    advance();  // '}'
    return node;
  }

  bool parseLabelList(std::vector<std::string>& labels) {
    if (!expect(Tok::LParen, "'('")) return false;
    while (token_.kind != Tok::RParen) {
      if (token_.kind != Tok::Ident || !isLabelName(token_.text)) {
        return fail(token_.pos, "expected a label name or ')'"), false;
      }
      labels.push_back(token_.text);
      advance();
      if (token_.kind == Tok::Comma) {
        advance();
      } else if (token_.kind != Tok::RParen) {
        return fail(token_.pos, "expected ',' or ')'"), false;
      }
    }
    advance();
    return true;
  }

  Lexer lexer_;
  Token token_;
  std::string error_;
};

// ---------------------------------------------------------------------------------------------
// Printing

std::string formatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Inf" : "-Inf";
  return fmt::format("{}", value);
}

std::string labelList(const std::vector<std::string>& labels) {
  return fmt::format("({})", fmt::join(labels, ", "));
}

std::string selectorText(const Node& node) {
  std::string out = node.metric;
  if (!node.matchers.empty()) {
    out += '{';
    for (std::size_t i = 0; i < node.matchers.size(); ++i) {
      const auto& m = node.matchers[i];
      if (i > 0) out += ", ";
      static constexpr std::string_view kOps[] = {"=", "!=", "=~", "!~"};
      out += m.name;
      out += kOps[static_cast<int>(m.op)];
      out += quote(m.value, QuoteStyle::PromQl);
    }
    out += '}';
  }
  if (node.range_ms > 0) out += fmt::format("[{}]", formatDuration(node.range_ms));
  return out;
}

std::string print(const Node& node);

std::string printOperand(const Node& child, int parent_precedence, bool right) {
  const bool wrap =
      child.kind == Kind::Binary && (precedence(child.op) < parent_precedence ||
                                     (right && precedence(child.op) == parent_precedence));
  return wrap ? "(" + print(child) + ")" : print(child);
}

std::string print(const Node& node) {
  switch (node.kind) {
    case Kind::Number:
      return formatNumber(node.number);
    case Kind::Time:
      return "time()";
    case Kind::Selector:
      return selectorText(node);
    case Kind::RangeFunction:
      return fmt::format("{}({})", rangeFnName(node.range_fn), selectorText(node));
    case Kind::Absent:
      return fmt::format("absent({})", selectorText(node));
    case Kind::AbsentOverTime:
      return fmt::format("absent_over_time({})", selectorText(node));
    case Kind::Aggregate: {
      std::string out(aggName(node.agg));
      if (!node.grouping.empty() || node.without) {
        out += node.without ? " without " : " by ";
        out += labelList(node.grouping) + " ";
      }
      return out + "(" + print(*node.lhs) + ")";
    }
    case Kind::Negate: {
      const bool wrap = node.lhs->kind == Kind::Binary;
      return wrap ? "-(" + print(*node.lhs) + ")" : "-" + print(*node.lhs);
    }
    case Kind::Binary: {
      const int p = precedence(node.op);
      std::string out = printOperand(*node.lhs, p, false);
      out += ' ';
      out += binOpText(node.op);
      if (node.has_matching) out += (node.on ? " on " : " ignoring ") + labelList(node.matching);
      out += ' ';
      out += printOperand(*node.rhs, p, true);
      return out;
    }
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Evaluation

struct Value {
  bool scalar = false;
  double number = 0;
  std::vector<Sample> vector;
};

bool selects(const Node& node, const LabelSet& labels) {
  return std::all_of(node.matchers.begin(), node.matchers.end(),
                     [&](const Matcher& m) { return m.matches(labels); });
}

// The points of `series` in (now - range, now].
std::pair<std::size_t, std::size_t> window(const Series& series, std::int64_t now_ms,
                                           std::int64_t range_ms) {
  const auto& points = series.points;
  const auto by_ts = [](std::int64_t ts, const Point& p) { return ts < p.ts_ms; };
  const auto first = std::upper_bound(points.begin(), points.end(), now_ms - range_ms, by_ts);
  const auto last = std::upper_bound(points.begin(), points.end(), now_ms, by_ts);
  return {static_cast<std::size_t>(first - points.begin()),
          static_cast<std::size_t>(last - points.begin())};
}

std::vector<Sample> instantSelect(const Node& node, const SeriesStore& store, std::int64_t now_ms) {
  std::vector<Sample> out;
  store.forEach(node.metric, [&](const Series& series) {
    if (!selects(node, series.labels)) return;
    const auto [first, last] = window(series, now_ms, kLookbackMs);
    if (first == last) return;  // stale: no sample within the lookback
    out.push_back(Sample{series.labels, series.points[last - 1].value});
  });
  return out;
}

// Prometheus's extrapolatedRate (promql/functions.go) for rate, increase and delta.
std::optional<double> extrapolatedRate(const std::deque<Point>& points, std::size_t first,
                                       std::size_t last, std::int64_t now_ms, std::int64_t range_ms,
                                       bool is_counter, bool is_rate) {
  if (last - first < 2) return std::nullopt;
  const Point& head = points[first];
  const Point& tail = points[last - 1];
  double result = tail.value - head.value;
  if (is_counter) {
    double previous = head.value;
    for (std::size_t i = first + 1; i < last; ++i) {
      if (points[i].value < previous) result += previous;  // a reset: it restarted from 0
      previous = points[i].value;
    }
  }
  const double range_start = static_cast<double>(now_ms - range_ms);
  double to_start = (static_cast<double>(head.ts_ms) - range_start) / 1000;
  double to_end = static_cast<double>(now_ms - tail.ts_ms) / 1000;
  const double sampled = static_cast<double>(tail.ts_ms - head.ts_ms) / 1000;
  const double average = sampled / static_cast<double>(last - first - 1);
  const double threshold = average * 1.1;
  if (to_start >= threshold) to_start = average / 2;
  if (is_counter && result > 0 && head.value >= 0) {
    // A counter cannot go below zero: do not extrapolate past the point where it was 0.
    const double to_zero = sampled * (head.value / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  if (to_end >= threshold) to_end = average / 2;
  double factor = (sampled + to_start + to_end) / sampled;
  if (is_rate) factor /= static_cast<double>(range_ms) / 1000;
  return result * factor;
}

std::vector<Sample> rangeFunction(const Node& node, const SeriesStore& store, std::int64_t now_ms) {
  std::vector<Sample> out;
  store.forEach(node.metric, [&](const Series& series) {
    if (!selects(node, series.labels)) return;
    const auto [first, last] = window(series, now_ms, node.range_ms);
    if (first == last) return;
    const auto& points = series.points;
    std::optional<double> value;
    switch (node.range_fn) {
      case RangeFn::Rate:
        value = extrapolatedRate(points, first, last, now_ms, node.range_ms, true, true);
        break;
      case RangeFn::Increase:
        value = extrapolatedRate(points, first, last, now_ms, node.range_ms, true, false);
        break;
      case RangeFn::Delta:
        value = extrapolatedRate(points, first, last, now_ms, node.range_ms, false, false);
        break;
      case RangeFn::MaxOverTime:
      case RangeFn::MinOverTime: {
        const bool is_max = node.range_fn == RangeFn::MaxOverTime;
        double best = points[first].value;
        for (std::size_t i = first + 1; i < last; ++i) {
          const double v = points[i].value;
          if (is_max ? v > best : v < best) best = v;
        }
        value = best;
        break;
      }
      case RangeFn::AvgOverTime: {
        double sum = 0;
        for (std::size_t i = first; i < last; ++i) sum += points[i].value;
        value = sum / static_cast<double>(last - first);
        break;
      }
    }
    if (value) out.push_back(Sample{series.labels, *value});
  });
  return out;
}

// absent(): the labels of the selector's equality matchers (a label given twice is left out).
LabelSet absentLabels(const Node& node) {
  LabelSet labels;
  std::set<std::string> repeated;
  for (const auto& m : node.matchers) {
    if (m.op != MatchOp::Equal) continue;
    if (!labels.emplace(m.name, m.value).second) repeated.insert(m.name);
  }
  for (const auto& name : repeated) labels.erase(name);
  for (auto it = labels.begin(); it != labels.end();) {
    it = it->second.empty() ? labels.erase(it) : std::next(it);
  }
  return labels;
}

bool anyInRange(const Node& node, const SeriesStore& store, std::int64_t now_ms,
                std::int64_t range_ms) {
  bool found = false;
  store.forEach(node.metric, [&](const Series& series) {
    if (found || !selects(node, series.labels)) return;
    const auto [first, last] = window(series, now_ms, range_ms);
    found = first != last;
  });
  return found;
}

LabelSet groupLabels(const LabelSet& labels, const std::vector<std::string>& names, bool keep) {
  LabelSet out;
  for (const auto& [name, value] : labels) {
    const bool listed = std::find(names.begin(), names.end(), name) != names.end();
    if (listed == keep) out.emplace(name, value);
  }
  return out;
}

std::vector<Sample> aggregate(const Node& node, std::vector<Sample> input) {
  struct Group {
    double value = 0;
    std::size_t count = 0;
  };
  std::map<LabelSet, Group> groups;
  for (auto& sample : input) {
    auto& group = groups[groupLabels(sample.labels, node.grouping, !node.without)];
    const double v = sample.value;
    if (group.count == 0) {
      group.value = node.agg == AggOp::Count ? 1 : v;
    } else {
      switch (node.agg) {
        case AggOp::Sum:
        case AggOp::Avg:
          group.value += v;
          break;
        case AggOp::Count:
          group.value += 1;
          break;
        case AggOp::Max:
          if (v > group.value || std::isnan(group.value)) group.value = v;
          break;
        case AggOp::Min:
          if (v < group.value || std::isnan(group.value)) group.value = v;
          break;
      }
    }
    ++group.count;
  }
  std::vector<Sample> out;
  out.reserve(groups.size());
  for (auto& [labels, group] : groups) {
    const double value =
        node.agg == AggOp::Avg ? group.value / static_cast<double>(group.count) : group.value;
    out.push_back(Sample{labels, value});
  }
  return out;
}

// The value of `l op r`; for comparisons, whether it holds (1) or not (0).
double apply(BinOp op, double l, double r) {
  switch (op) {
    case BinOp::Add:
      return l + r;
    case BinOp::Sub:
      return l - r;
    case BinOp::Mul:
      return l * r;
    case BinOp::Div:
      return l / r;
    case BinOp::Eq:
      return l == r ? 1 : 0;
    case BinOp::Ne:
      return l != r ? 1 : 0;
    case BinOp::Gt:
      return l > r ? 1 : 0;
    case BinOp::Ge:
      return l >= r ? 1 : 0;
    case BinOp::Lt:
      return l < r ? 1 : 0;
    case BinOp::Le:
      return l <= r ? 1 : 0;
  }
  return 0;
}

pipeline::Result<Value> evaluateNode(const Node& node, const SeriesStore& store,
                                     std::int64_t now_ms);

pipeline::Result<Value> evaluateBinary(const Node& node, const SeriesStore& store,
                                       std::int64_t now_ms) {
  auto lhs = evaluateNode(*node.lhs, store, now_ms);
  if (!lhs) return lhs;
  auto rhs = evaluateNode(*node.rhs, store, now_ms);
  if (!rhs) return rhs;
  const bool comparison = isComparison(node.op);
  Value out;
  if (lhs->scalar && rhs->scalar) {
    out.scalar = true;
    out.number = apply(node.op, lhs->number, rhs->number);
    return out;
  }
  if (lhs->scalar || rhs->scalar) {
    const bool vector_left = rhs->scalar;
    auto& vector = vector_left ? lhs->vector : rhs->vector;
    const double scalar = vector_left ? rhs->number : lhs->number;
    for (auto& sample : vector) {
      const double result =
          vector_left ? apply(node.op, sample.value, scalar) : apply(node.op, scalar, sample.value);
      if (comparison) {
        if (result != 0) out.vector.push_back(std::move(sample));  // keeps the vector's value
      } else {
        out.vector.push_back(Sample{std::move(sample.labels), result});
      }
    }
    return out;
  }
  // Vector to vector, one-to-one.
  const auto signature = [&](const LabelSet& labels) {
    return node.has_matching ? groupLabels(labels, node.matching, node.on) : labels;
  };
  std::map<LabelSet, const Sample*> right;
  for (const auto& sample : rhs->vector) {
    if (!right.emplace(signature(sample.labels), &sample).second) {
      return Error{ErrorType::InvalidArgument,
                   fmt::format("many-to-many matching not allowed: several series on the right "
                               "side of '{}' have the same match labels",
                               binOpText(node.op))};
    }
  }
  std::set<LabelSet> seen;
  for (auto& sample : lhs->vector) {
    auto key = signature(sample.labels);
    const auto match = right.find(key);
    if (match == right.end()) continue;
    if (!seen.insert(key).second) {
      return Error{ErrorType::InvalidArgument,
                   fmt::format("many-to-one matching not supported: several series on the left "
                               "side of '{}' have the same match labels",
                               binOpText(node.op))};
    }
    const double result = apply(node.op, sample.value, match->second->value);
    if (comparison && result == 0) continue;
    LabelSet labels = node.has_matching ? std::move(key) : std::move(sample.labels);
    out.vector.push_back(Sample{std::move(labels), comparison ? sample.value : result});
  }
  return out;
}

pipeline::Result<Value> evaluateNode(const Node& node, const SeriesStore& store,
                                     std::int64_t now_ms) {
  Value out;
  switch (node.kind) {
    case Kind::Number:
      out.scalar = true;
      out.number = node.number;
      return out;
    case Kind::Time:
      out.scalar = true;
      out.number = static_cast<double>(now_ms) / 1000;
      return out;
    case Kind::Selector:
      out.vector = instantSelect(node, store, now_ms);
      return out;
    case Kind::RangeFunction:
      out.vector = rangeFunction(node, store, now_ms);
      return out;
    case Kind::Absent:
      if (!anyInRange(node, store, now_ms, kLookbackMs)) {
        out.vector.push_back(Sample{absentLabels(node), 1});
      }
      return out;
    case Kind::AbsentOverTime:
      if (!anyInRange(node, store, now_ms, node.range_ms)) {
        out.vector.push_back(Sample{absentLabels(node), 1});
      }
      return out;
    case Kind::Aggregate: {
      auto operand = evaluateNode(*node.lhs, store, now_ms);
      if (!operand) return operand;
      out.vector = aggregate(node, std::move(operand->vector));
      return out;
    }
    case Kind::Negate: {
      auto operand = evaluateNode(*node.lhs, store, now_ms);
      if (!operand) return operand;
      if (operand->scalar) {
        operand->number = -operand->number;
      } else {
        for (auto& sample : operand->vector) sample.value = -sample.value;
      }
      return operand;
    }
    case Kind::Binary:
      return evaluateBinary(node, store, now_ms);
  }
  return out;
}

template <typename Fn>
void walk(const Node& node, const Fn& fn) {
  fn(node);
  if (node.lhs) walk(*node.lhs, fn);
  if (node.rhs) walk(*node.rhs, fn);
}

}  // namespace

pipeline::Result<Expr> Expr::parse(std::string_view text) {
  Parser parser(text);
  auto root = parser.parseAll();
  if (!root) return Error{ErrorType::InvalidConfig, parser.error()};
  return Expr(std::move(root));
}

pipeline::Result<std::vector<Sample>> Expr::evaluate(const SeriesStore& store,
                                                     std::int64_t now_ms) const {
  try {
    auto value = evaluateNode(*root_, store, now_ms);
    if (!value) return value.error();
    return std::move(value->vector);
  } catch (const std::exception& e) {  // std::regex_match may throw (error_complexity)
    return Error{ErrorType::Internal, fmt::format("evaluation failed: {}", e.what())};
  }
}

std::int64_t Expr::historyMs() const noexcept {
  std::int64_t history = 0;
  walk(*root_, [&](const Node& node) {
    switch (node.kind) {
      case Kind::Selector:
      case Kind::Absent:
        history = std::max(history, kLookbackMs);
        break;
      case Kind::RangeFunction:
      case Kind::AbsentOverTime:
        history = std::max(history, node.range_ms);
        break;
      default:
        break;
    }
  });
  return history;
}

std::int64_t Expr::absenceHistoryMs() const noexcept {
  std::int64_t history = 0;
  walk(*root_, [&](const Node& node) {
    if (node.kind == Kind::Absent) history = std::max(history, kLookbackMs);
    if (node.kind == Kind::AbsentOverTime) history = std::max(history, node.range_ms);
  });
  return history;
}

std::set<std::string, std::less<>> Expr::metricNames() const {
  std::set<std::string, std::less<>> names;
  walk(*root_, [&](const Node& node) {
    if (!node.metric.empty()) names.insert(node.metric);
  });
  return names;
}

std::string Expr::toString() const { return print(*root_); }

}  // namespace stages::alerter
