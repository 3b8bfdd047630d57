#include "fingerprint/observation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "output/text.h"

namespace smtpscan::fingerprint {

namespace {

// ReplyText into `*text`, replacing what it held.
void AssignReplyText(int code, const std::vector<std::string>& lines,
                     std::string* text) {
  text->clear();
  if (lines.empty()) {
    absl::StrAppend(text, code);
    return;
  }
  for (const std::string& line : lines) {
    if (!text->empty()) text->push_back('\n');
    absl::StrAppend(text, code, " ", line);
  }
}

// `reply` is an absl::optional or smtp::HeapOptional of smtp::Reply.
template <typename OptionalReply>
void AssignReplyText(const OptionalReply& reply, std::string* text) {
  if (reply.has_value()) {
    AssignReplyText(reply->code, reply->lines, text);
  } else {
    text->clear();
  }
}

// KeywordText of the reply's extensions into `*text`.
void AssignKeywordText(const smtp::EhloReply& ehlo, std::string* text) {
  text->clear();
  for (const smtp::Extension& ext : ehlo.extensions) {
    if (!text->empty()) text->push_back(' ');
    for (const char c : ext.keyword) text->push_back(absl::ascii_toupper(c));
  }
}

}  // namespace

std::string ReplyText(int code, const std::vector<std::string>& lines) {
  std::string text;
  AssignReplyText(code, lines, &text);
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

Observation ObservationOf(const output::ProbeResult& probe) {
  Observation o;
  FillObservation(probe, &o);
  return o;
}

void FillObservation(const output::ProbeResult& probe, Observation* out) {
  const smtp::SessionResult& s = probe.session;
  Observation& o = *out;
  AssignReplyText(s.greeting, &o.greeting);
  if (s.ehlo.has_value()) {
    AssignReplyText(s.ehlo->reply.code, s.ehlo->reply.lines, &o.ehlo);
    AssignKeywordText(*s.ehlo, &o.ehlo_keywords);
  } else {
    o.ehlo.clear();
    o.ehlo_keywords.clear();
  }
  if (s.ehlo_tls.has_value()) {
    AssignReplyText(s.ehlo_tls->reply.code, s.ehlo_tls->reply.lines,
                    &o.ehlo_tls);
    AssignKeywordText(*s.ehlo_tls, &o.ehlo_tls_keywords);
  } else {
    o.ehlo_tls.clear();
    o.ehlo_tls_keywords.clear();
  }
  AssignReplyText(s.helo, &o.helo);
  AssignReplyText(s.starttls, &o.starttls);
  AssignReplyText(s.help, &o.help);
  AssignReplyText(s.unknown, &o.unknown);
  AssignReplyText(s.quit, &o.quit);
  if (probe.tls != nullptr && probe.tls->established &&
      !probe.tls->chain.empty()) {
    o.cert_subject = probe.tls->chain.front().subject;
    o.cert_issuer = probe.tls->chain.front().issuer;
  } else {
    o.cert_subject.clear();
    o.cert_issuer.clear();
  }
  o.greeting_ms = s.timings.greeting.has_value()
                      ? s.timings.greeting.microseconds() / 1000
                      : -1;
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
}

}  // namespace smtpscan::fingerprint
