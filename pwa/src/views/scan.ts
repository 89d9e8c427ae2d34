// Reading a CPE's MAC from the barcode or QR code on its label, where the browser can.
import { h } from "../dom";
import { t } from "../i18n";

interface Detected {
  rawValue: string;
}
interface Detector {
  detect(source: HTMLVideoElement): Promise<Detected[]>;
}
type DetectorCtor = new (o?: { formats?: string[] }) => Detector;

function detectorClass(): DetectorCtor | null {
  return (window as unknown as { BarcodeDetector?: DetectorCtor }).BarcodeDetector ?? null;
}

export function canScan(): boolean {
  return !!detectorClass() && !!navigator.mediaDevices?.getUserMedia;
}

const MAC_IN_TEXT = /([0-9a-f]{2}[:-]?){5}[0-9a-f]{2}/i;

/** Opens the camera in a dialog; resolves with the first MAC seen, or null when closed. */
export function scanMac(): Promise<string | null> {
  const Ctor = detectorClass();
  if (!Ctor) return Promise.resolve(null);
  return new Promise((resolve) => {
    const video = h("video", { playsinline: true, muted: true, "aria-label": t("scan.video") });
    const status = h("p", { role: "status" }, t("scan.looking"));
    let stream: MediaStream | null = null;
    let timer = 0;
    const finish = (value: string | null) => {
      window.clearInterval(timer);
      stream?.getTracks().forEach((track) => track.stop());
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    const dialog = h(
      "dialog",
      { class: "scan", "aria-label": t("scan.title") },
      h("h2", null, t("scan.title")),
      video,
      status,
      h("button", { type: "button", class: "secondary", onclick: () => finish(null) }, t("common.close")),
    );
    dialog.addEventListener("cancel", () => finish(null));
    document.body.appendChild(dialog);
    dialog.showModal();
    const detector = new Ctor();
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment" } })
      .then(async (s) => {
        stream = s;
        video.srcObject = s;
        await video.play();
        timer = window.setInterval(async () => {
          try {
            for (const code of await detector.detect(video)) {
              const found = MAC_IN_TEXT.exec(code.rawValue);
              if (found) return finish(found[0]);
            }
          } catch {
            /* a frame that could not be read */
          }
          return undefined;
        }, 300);
      })
      .catch(() => {
        status.textContent = t("scan.no_camera");
      });
  });
}
