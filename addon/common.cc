#include "common.h"

namespace pcap_pipe {

Napi::Error MakeCodedError(Napi::Env env, const char* code, const std::string& message, const char* reason) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Value().Set("code", Napi::String::New(env, code));
  if (reason != nullptr) error.Value().Set("reason", Napi::String::New(env, reason));
  return error;
}

void ThrowCoded(Napi::Env env, const char* code, const std::string& message, const char* reason) {
  MakeCodedError(env, code, message, reason).ThrowAsJavaScriptException();
}

const char* PcapStatusName(int status) {
  switch (status) {
    case PCAP_ERROR_BREAK: return "BREAK";
    case PCAP_ERROR_NOT_ACTIVATED: return "NOT_ACTIVATED";
    case PCAP_ERROR_ACTIVATED: return "ACTIVATED";
    case PCAP_ERROR_NO_SUCH_DEVICE: return "NO_SUCH_DEVICE";
    case PCAP_ERROR_RFMON_NOTSUP: return "RFMON_NOTSUP";
    case PCAP_ERROR_NOT_RFMON: return "NOT_RFMON";
    case PCAP_ERROR_PERM_DENIED: return "PERM_DENIED";
    case PCAP_ERROR_IFACE_NOT_UP: return "IFACE_NOT_UP";
    case PCAP_ERROR_CANTSET_TSTAMP_TYPE: return "CANTSET_TSTAMP_TYPE";
    case PCAP_ERROR_PROMISC_PERM_DENIED: return "PROMISC_PERM_DENIED";
    case PCAP_ERROR_TSTAMP_PRECISION_NOTSUP: return "TSTAMP_PRECISION_NOTSUP";
    case PCAP_WARNING: return "WARNING";
    case PCAP_WARNING_PROMISC_NOTSUP: return "WARNING_PROMISC_NOTSUP";
    case PCAP_WARNING_TSTAMP_TYPE_NOTSUP: return "WARNING_TSTAMP_TYPE_NOTSUP";
    default: return "ERROR";
  }
}

namespace {
struct LinktypeDlt {
  int linkType;
  int dlt;
};
// https://www.tcpdump.org/linktypes.html: LINKTYPE values 100-106 stand for DLT values that differ between
// platforms; DLT_RAW is 12 on most systems and 14 on OpenBSD, which pcap/dlt.h already resolves.
constexpr LinktypeDlt kRemapped[] = {
    {100, DLT_ATM_RFC1483}, {101, DLT_RAW}, {102, DLT_SLIP_BSDOS}, {103, DLT_PPP_BSDOS}, {106, DLT_ATM_CLIP},
};
}  // namespace

int LinktypeToDlt(int linkType) {
  for (const auto& m : kRemapped) {
    if (m.linkType == linkType) return m.dlt;
  }
  if (linkType == 12 || linkType == 14) return DLT_RAW;  // files written with a platform's raw DLT value
  return linkType;
}

int DltToLinktype(int dlt) {
  for (const auto& m : kRemapped) {
    if (m.dlt == dlt) return m.linkType;
  }
  if (dlt == 14) return 101;  // DLT_RAW on OpenBSD, seen in files from there
  return dlt;
}

std::string DatalinkName(int linkType) {
  const char* name = pcap_datalink_val_to_name(LinktypeToDlt(linkType));
  return name != nullptr ? std::string(name) : "DLT_" + std::to_string(linkType);
}

}  // namespace pcap_pipe
