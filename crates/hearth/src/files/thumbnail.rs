//! Previews of images, made once by the sender (protocol §3.10) so that no viewer has to
//! fetch a 10 MB photo to show a message: at most `THUMBNAIL_EDGE` pixels a side, JPEG
//! (PNG when the image has transparency), well under `MAX_THUMBNAIL_BYTES`.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use crate::protocol::files::{MAX_THUMBNAIL_BYTES, THUMBNAIL_EDGE};

/// A preview, and the size of the image it shows.
#[derive(Debug, Clone)]
pub struct Preview {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    pub image_width: u32,
    pub image_height: u32,
}

/// The image formats previews are made of (what a webview shows too).
pub fn is_previewable(mime: &str) -> bool {
    matches!(
        mime,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// A preview of the image at `path`, or `None` if it is not an image this build reads
/// (or a hostile one: more pixels or memory than a photo needs). Blocking and CPU-bound:
/// run it off the runtime.
pub fn make(path: &Path) -> Option<Preview> {
    let mut reader = ImageReader::open(path).ok()?.with_guessed_format().ok()?;
    reader.format().filter(|f| {
        matches!(
            f,
            ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP
        )
    })?;
    // A decompression bomb (a tiny file that claims 100k × 100k pixels) stops here.
    let mut limits = Limits::default();
    limits.max_image_width = Some(20_000);
    limits.max_image_height = Some(20_000);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().ok()?;
    let (image_width, image_height) = (img.width(), img.height());
    let small = img.thumbnail(THUMBNAIL_EDGE, THUMBNAIL_EDGE);
    let (bytes, mime) = if small.color().has_alpha() {
        match encode(&small, ImageFormat::Png) {
            Some(b) if b.len() as u64 <= MAX_THUMBNAIL_BYTES => (b, "image/png"),
            _ => (encode_jpeg(&small)?, "image/jpeg"),
        }
    } else {
        (encode_jpeg(&small)?, "image/jpeg")
    };
    (bytes.len() as u64 <= MAX_THUMBNAIL_BYTES).then_some(Preview {
        width: small.width(),
        height: small.height(),
        bytes,
        mime,
        image_width,
        image_height,
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Option<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).ok()?;
    Some(out.into_inner())
}

fn encode_jpeg(img: &DynamicImage) -> Option<Vec<u8>> {
    // JPEG has no alpha: flatten onto white, as a viewer on a light page would show it.
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    let mut out = Cursor::new(Vec::new());
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
    rgb.write_with_encoder(enc).ok()?;
    Some(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_small_and_keep_the_aspect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.png");
        let img = image::RgbImage::from_fn(1920, 1080, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x ^ y) % 256) as u8])
        });
        img.save(&path).unwrap();
        let p = make(&path).expect("a preview");
        assert_eq!((p.image_width, p.image_height), (1920, 1080));
        assert_eq!(p.width, THUMBNAIL_EDGE);
        assert_eq!(p.height, 270);
        assert_eq!(p.mime, "image/jpeg");
        assert!(p.bytes.len() as u64 <= MAX_THUMBNAIL_BYTES);
        let not_image = dir.path().join("notes.png");
        std::fs::write(&not_image, b"just text, named like an image").unwrap();
        assert!(make(&not_image).is_none());
    }
}
