#include "server/metrics/prometheus_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace synod::server::metrics {
namespace {

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` (with `extra` appended, for le), or nothing when empty.
void AppendLabels(std::string* out, const Labels& labels,
                  const std::pair<std::string, std::string>* extra = nullptr) {
  if (labels.empty() && extra == nullptr) return;
  out->push_back('{');
  bool first = true;
  auto one = [&](const std::pair<std::string, std::string>& l) {
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, l.first, "=\"", EscapeLabelValue(l.second), "\"");
  };
  for (const auto& l : labels) one(l);
  if (extra != nullptr) one(*extra);
  out->push_back('}');
}

bool NameChar(char c, bool first, bool colon_ok) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (alpha || (colon_ok && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) <= 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  // Prefer the shortest form that reads back as the same double.
  for (int precision = 1; precision < 17; ++precision) {
    char shorter[32];
    std::snprintf(shorter, sizeof(shorter), "%.*g", precision, value);
    if (std::strtod(shorter, nullptr) == value) return shorter;
  }
  return buf;
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, /*colon_ok=*/true)) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, /*colon_ok=*/false)) return false;
  }
  return true;
}

std::string RenderText(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const MetricFamily& f : families) {
    absl::StrAppend(&out, "# HELP ", f.name, " ", EscapeHelp(f.help), "\n");
    absl::StrAppend(&out, "# TYPE ", f.name, " ", TypeName(f.type), "\n");
    if (f.type != MetricType::kHistogram) {
      for (const Sample& s : f.samples) {
        out += f.name;
        AppendLabels(&out, s.labels);
        absl::StrAppend(&out, " ", FormatValue(s.value), "\n");
      }
      continue;
    }
    for (const HistogramSample& h : f.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < h.bucket_counts.size(); ++i) {
        cumulative += h.bucket_counts[i];
        const std::pair<std::string, std::string> le(
            "le", i < h.bounds.size() ? FormatValue(h.bounds[i]) : "+Inf");
        absl::StrAppend(&out, f.name, "_bucket");
        AppendLabels(&out, h.labels, &le);
        absl::StrAppend(&out, " ", cumulative, "\n");
      }
      absl::StrAppend(&out, f.name, "_sum");
      AppendLabels(&out, h.labels);
      absl::StrAppend(&out, " ", FormatValue(h.sum), "\n");
      absl::StrAppend(&out, f.name, "_count");
      AppendLabels(&out, h.labels);
      absl::StrAppend(&out, " ", cumulative, "\n");
    }
  }
  return out;
}

}  // namespace synod::server::metrics
