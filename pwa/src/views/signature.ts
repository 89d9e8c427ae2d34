// A signature pad: the signer draws with a finger, stylus or mouse; the result is a PNG data URL.
import { h } from "../dom";
import { t } from "../i18n";

export interface SignaturePad {
  element: HTMLElement;
  isEmpty(): boolean;
  toDataURL(): string;
  clear(): void;
}

export function signaturePad(labelId: string): SignaturePad {
  const canvas = h("canvas", {
    class: "signature",
    role: "img",
    "aria-labelledby": labelId,
    width: 600,
    height: 240,
  });
  const ctx = canvas.getContext("2d")!;
  let drawn = false;
  let last: { x: number; y: number } | null = null;

  const reset = () => {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#111827";
    ctx.lineWidth = 3;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    drawn = false;
  };
  reset();

  const point = (e: PointerEvent) => {
    const r = canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * canvas.width) / r.width, y: ((e.clientY - r.top) * canvas.height) / r.height };
  };
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    last = point(e);
    ctx.beginPath();
    ctx.arc(last.x, last.y, 1.5, 0, Math.PI * 2);
    ctx.fillStyle = "#111827";
    ctx.fill();
    drawn = true;
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = point(e);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
    drawn = true;
  });
  const end = () => (last = null);
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  const clear = h("button", { type: "button", class: "small secondary", onclick: reset }, t("signoff.clear"));
  return {
    element: h("div", { class: "signature-wrap" }, canvas, clear),
    isEmpty: () => !drawn,
    toDataURL: () => canvas.toDataURL("image/png"),
    clear: reset,
  };
}
