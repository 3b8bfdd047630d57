#include "fingerprint/observation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "output/text.h"

namespace smtpscan::fingerprint {

std::string ReplyText(int code, const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) {
    if (!text.empty()) text.push_back('\n');
    absl::StrAppend(&text, code, " ", line);
  }
  if (lines.empty()) text = absl::StrCat(code);
  return text;
}

std::string KeywordText(const std::vector<std::string>& keywords) {
  std::string text;
  for (const std::string& k : keywords) {
    if (!text.empty()) text.push_back(' ');
    text += absl::AsciiStrToUpper(k);
  }
  return text;
}

namespace {

std::string Text(const absl::optional<smtp::Reply>& reply) {
  return reply.has_value() ? ReplyText(reply->code, reply->lines) : "";
}

}  // namespace

Observation ObservationOf(const output::ProbeResult& probe) {
  const smtp::SessionResult& s = probe.session;
  Observation o;
  o.greeting = Text(s.greeting);
  if (s.ehlo.has_value()) {
    o.ehlo = ReplyText(s.ehlo->reply.code, s.ehlo->reply.lines);
    o.ehlo_keywords = KeywordText(s.ehlo->Keywords());
  }
  if (s.ehlo_tls.has_value()) {
    o.ehlo_tls = ReplyText(s.ehlo_tls->reply.code, s.ehlo_tls->reply.lines);
    o.ehlo_tls_keywords = KeywordText(s.ehlo_tls->Keywords());
  }
  o.helo = Text(s.helo);
  o.starttls = Text(s.starttls);
  o.help = Text(s.help);
  o.unknown = Text(s.unknown);
  o.quit = Text(s.quit);
  if (probe.tls != nullptr && probe.tls->established &&
      !probe.tls->chain.empty()) {
    o.cert_subject = probe.tls->chain.front().subject;
    o.cert_issuer = probe.tls->chain.front().issuer;
  }
  if (s.timings.greeting.has_value()) {
    o.greeting_ms = s.timings.greeting.microseconds() / 1000;
  }
  // Rules see text as the output stores it (invalid UTF-8 repaired), so
  // that `smtpscan fingerprint` on stored records matches what the scan saw.
  std::string scratch;
  for (std::string* field :
       {&o.greeting, &o.ehlo, &o.ehlo_keywords, &o.ehlo_tls,
        &o.ehlo_tls_keywords, &o.helo, &o.starttls, &o.help, &o.unknown,
        &o.quit, &o.cert_subject, &o.cert_issuer}) {
    const absl::string_view valid = output::ValidUtf8(*field, &scratch);
    if (valid.data() != field->data()) *field = std::string(valid);
  }
  return o;
}

}  // namespace smtpscan::fingerprint
