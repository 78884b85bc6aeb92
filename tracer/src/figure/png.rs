//! A [`Scene`] as PNG at twice its CSS size, marked as 192 dpi in the file, so that it prints
//! at the SVG's size with twice its detail. Shapes are axis-aligned rectangles, filled on
//! whole pixels so lines stay sharp; text is rasterized with anti-aliasing from the same font
//! the layout measured.
use anyhow::Context as _;

use super::{
    font::Fonts,
    layout::{Anchor, Rect, Scene, Shape, Text},
    palette::Colour,
};

/// Pixels per CSS pixel.
pub const SCALE: f32 = 2.0;
/// 96 CSS pixels per inch, times [`SCALE`], in pixels per metre as PNG's pHYs chunk has them.
const PIXELS_PER_METRE: u32 = (96.0 * SCALE as f64 / 0.0254) as u32;

pub fn write(scene: &Scene, fonts: &Fonts) -> anyhow::Result<Vec<u8>> {
    let mut canvas = Canvas::new((scene.width * SCALE) as u32, (scene.height * SCALE) as u32);
    for shape in &scene.shapes {
        match shape {
            Shape::Rect(r) => canvas.rect(r),
            Shape::Text(t) => canvas.text(t, fonts),
            Shape::Bar { rect, value, .. } => {
                canvas.rect(rect);
                canvas.text(value, fonts);
            }
        }
    }
    canvas.encode().context("encoding the PNG")
}

/// RGB, row by row.
struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Self {
        Self { width, height, pixels: vec![0xff; width as usize * height as usize * 3] }
    }

    /// Mixes `alpha` of `colour` into the pixel at (x, y), if it is on the canvas.
    fn blend(&mut self, x: i64, y: i64, colour: Colour, alpha: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let alpha = alpha.clamp(0.0, 1.0);
        let at = (y as usize * self.width as usize + x as usize) * 3;
        for (channel, value) in
            self.pixels[at..at + 3].iter_mut().zip([colour.0, colour.1, colour.2])
        {
            *channel =
                (f32::from(*channel) * (1.0 - alpha) + f32::from(value) * alpha).round() as u8;
        }
    }

    fn rect(&mut self, r: &Rect) {
        let edge = |v: f32| (v * SCALE).round() as i64;
        for y in edge(r.y)..edge(r.y + r.h) {
            for x in edge(r.x)..edge(r.x + r.w) {
                self.blend(x, y, r.fill, 1.0);
            }
        }
    }

    fn text(&mut self, t: &Text, fonts: &Fonts) {
        let size = t.size * SCALE;
        let shift = match t.anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => fonts.width(&t.text, size, t.bold) / 2.0,
            Anchor::End => fonts.width(&t.text, size, t.bold),
        };
        let origin = (t.x * SCALE - shift, t.y * SCALE);
        fonts.draw(&t.text, size, t.bold, origin, |x, y, coverage| {
            self.blend(x, y, t.fill, coverage);
        });
    }

    fn encode(&self) -> Result<Vec<u8>, png::EncodingError> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: PIXELS_PER_METRE,
            yppu: PIXELS_PER_METRE,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(bytes)
    }
}
