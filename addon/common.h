// Shared helpers for the libpcap addon: coded errors and small libpcap name lookups.
#pragma once

#include <napi.h>
#include <pcap/pcap.h>

#include <string>

namespace pcap_pipe {

// Error codes understood by addon/index.ts (a subset of lib/core/errors.ts CaptureErrorCode).
constexpr const char* kCodeLive = "PCAP_LIVE";
constexpr const char* kCodeBpf = "BPF_SYNTAX";

// Builds a JS Error carrying `code` (stable, from lib/core/errors.ts) and `reason` (libpcap's status name such
// as "PERM_DENIED", or nullptr) so JS can turn it into a typed CaptureError without parsing text.
Napi::Error MakeCodedError(Napi::Env env, const char* code, const std::string& message, const char* reason);

// Sets a pending JS exception built by MakeCodedError.
void ThrowCoded(Napi::Env env, const char* code, const std::string& message, const char* reason = nullptr);

// "PERM_DENIED" for PCAP_ERROR_PERM_DENIED and so on; "ERROR" for anything unnamed.
const char* PcapStatusName(int status);

// LINKTYPE_* (what capture files and PacketRecord.linkType carry) and DLT_* (what libpcap's API takes)
// are the same numbers except for a few historical values; these map between them like libpcap's own
// (unexported) linktype_to_dlt / dlt_to_linktype.
int LinktypeToDlt(int linkType);
int DltToLinktype(int dlt);

// Datalink name ("EN10MB") or "DLT_<n>" when libpcap has none.
std::string DatalinkName(int linkType);

}  // namespace pcap_pipe
