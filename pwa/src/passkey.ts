// WebAuthn in the browser: the server sends standard JSON options; browsers that cannot parse
// them natively get the few base64url fields decoded here.
type Json = Record<string, unknown>;

function b64urlToBuffer(value: string): ArrayBuffer {
  const base64 = value.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(value.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return bytes.buffer;
}

function bufferToB64url(buffer: ArrayBuffer | null | undefined): string | undefined {
  if (!buffer) return undefined;
  let s = "";
  for (const b of new Uint8Array(buffer)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

interface PKCStatic {
  parseCreationOptionsFromJSON?: (o: Json) => PublicKeyCredentialCreationOptions;
  parseRequestOptionsFromJSON?: (o: Json) => PublicKeyCredentialRequestOptions;
  isConditionalMediationAvailable?: () => Promise<boolean>;
}

const PKC = (): PKCStatic | undefined =>
  typeof PublicKeyCredential === "undefined" ? undefined : (PublicKeyCredential as unknown as PKCStatic);

export function passkeysSupported(): boolean {
  return !!PKC() && !!navigator.credentials;
}

export async function conditionalAvailable(): Promise<boolean> {
  try {
    return !!(await PKC()?.isConditionalMediationAvailable?.());
  } catch {
    return false;
  }
}

function creationOptions(json: Json): PublicKeyCredentialCreationOptions {
  const native = PKC()?.parseCreationOptionsFromJSON;
  if (native) return native(json);
  const user = json.user as Json;
  return {
    ...(json as object),
    challenge: b64urlToBuffer(String(json.challenge)),
    user: { ...(user as object), id: b64urlToBuffer(String(user.id)) },
    excludeCredentials: ((json.excludeCredentials as Json[]) ?? []).map((c) => ({
      ...(c as object),
      id: b64urlToBuffer(String(c.id)),
    })),
  } as PublicKeyCredentialCreationOptions;
}

function requestOptions(json: Json): PublicKeyCredentialRequestOptions {
  const native = PKC()?.parseRequestOptionsFromJSON;
  if (native) return native(json);
  return {
    ...(json as object),
    challenge: b64urlToBuffer(String(json.challenge)),
    allowCredentials: ((json.allowCredentials as Json[]) ?? []).map((c) => ({
      ...(c as object),
      id: b64urlToBuffer(String(c.id)),
    })),
  } as PublicKeyCredentialRequestOptions;
}

function toJSON(credential: PublicKeyCredential): Json {
  const withJson = credential as PublicKeyCredential & { toJSON?: () => Json };
  if (typeof withJson.toJSON === "function") return withJson.toJSON();
  const r = credential.response as AuthenticatorResponse & {
    attestationObject?: ArrayBuffer;
    authenticatorData?: ArrayBuffer;
    signature?: ArrayBuffer;
    userHandle?: ArrayBuffer | null;
    getTransports?: () => string[];
  };
  return {
    id: credential.id,
    rawId: bufferToB64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: {
      clientDataJSON: bufferToB64url(r.clientDataJSON),
      attestationObject: bufferToB64url(r.attestationObject),
      authenticatorData: bufferToB64url(r.authenticatorData),
      signature: bufferToB64url(r.signature),
      userHandle: bufferToB64url(r.userHandle ?? undefined),
      transports: r.getTransports?.(),
    },
  };
}

export async function createPasskey(options: Json): Promise<Json> {
  const publicKey = creationOptions((options.publicKey as Json) ?? options);
  const credential = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential | null;
  if (!credential) throw new DOMException("cancelled", "NotAllowedError");
  return toJSON(credential);
}

export async function getPasskey(options: Json, conditional: boolean, signal?: AbortSignal): Promise<Json> {
  const publicKey = requestOptions((options.publicKey as Json) ?? options);
  const credential = (await navigator.credentials.get({
    publicKey,
    signal,
    ...(conditional ? { mediation: "conditional" as CredentialMediationRequirement } : {}),
  })) as PublicKeyCredential | null;
  if (!credential) throw new DOMException("cancelled", "NotAllowedError");
  return toJSON(credential);
}
